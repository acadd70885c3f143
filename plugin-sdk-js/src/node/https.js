// `https`: request/get with Node's shapes over `__op.fetch`.
import { makeClient, Agent, ClientRequest, IncomingMessage, STATUS_CODES, METHODS, createServer } from '../internal/http-client.js';

const client = /* @__PURE__ */ makeClient('https:');
export const request = client.request;
export const get = client.get;
export const globalAgent = /* @__PURE__ */ new Agent();
export { Agent, ClientRequest, IncomingMessage, STATUS_CODES, METHODS, createServer };
export default { request, get, Agent, globalAgent, ClientRequest, IncomingMessage, STATUS_CODES, METHODS, createServer };
