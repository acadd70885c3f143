// One request through `__op.fetch`, shared by @ones-op/fetch and
// @ones-op/node-fetch: config → the contract's request, the answer → a
// response object that serves the ONES ({statusCode, body, headers}) and the
// axios ({status, statusText, data, headers}) readings at once.
import { op, onesEnv } from './op.js';
import { utf8Decode } from './text.js';

const STATUS_TEXT = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function statusText(status) {
  return STATUS_TEXT[status] || '';
}

export class FetchError extends Error {
  constructor(message, code, config, response) {
    super(message);
    this.name = 'FetchError';
    this.isFetchError = true;
    this.isAxiosError = true;
    this.code = code;
    this.config = config;
    this.response = response;
    this.status = response ? response.status : undefined;
  }
  toJSON() {
    return { name: this.name, message: this.message, code: this.code, status: this.status };
  }
}

export function isFetchError(e) {
  return !!(e && typeof e === 'object' && e.isFetchError === true);
}

export const isAbsolute = (url) => /^[a-z][a-z0-9+.-]*:\/\//i.test(url);

function headerPairs(headers) {
  const pairs = [];
  if (!headers) return pairs;
  const entries = typeof headers.entries === 'function' && !Array.isArray(headers) && typeof headers.forEach === 'function' && !(headers.constructor === Object)
    ? [...headers.entries()]
    : Array.isArray(headers) ? headers : Object.entries(headers);
  for (const [k, v] of entries) {
    if (v === undefined || v === null) continue;
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x === undefined || x === null) continue;
      pairs.push([String(k).toLowerCase(), String(x)]);
    }
  }
  return pairs;
}

function queryValue(v) {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function queryPairs(q) {
  const pairs = [];
  if (q === undefined || q === null) return pairs;
  if (typeof q === 'string') {
    // an already encoded query string
    for (const part of q.replace(/^\?/, '').split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
      pairs.push(i < 0 ? [dec(part), ''] : [dec(part.slice(0, i)), dec(part.slice(i + 1))]);
    }
    return pairs;
  }
  const entries = Array.isArray(q) ? q : typeof q.forEach === 'function' && typeof q.append === 'function' ? [...q] : Object.entries(q);
  for (const [k, v] of entries) {
    if (v === undefined || v === null) continue;
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x !== undefined && x !== null) pairs.push([String(k), queryValue(x)]);
    }
  }
  return pairs;
}

function encodeBody(body, headers) {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const has = (name) => headers.some(([k]) => k === name);
  if (Object.prototype.toString.call(body) === '[object URLSearchParams]') {
    if (!has('content-type')) headers.push(['content-type', 'application/x-www-form-urlencoded;charset=utf-8']);
    return body.toString();
  }
  if (!has('content-type')) headers.push(['content-type', 'application/json']);
  return JSON.stringify(body);
}

export function headerObject(pairs) {
  const h = {};
  for (const [k, v] of pairs) {
    const name = k.toLowerCase();
    h[name] = name in h ? `${h[name]}, ${v}` : v;
  }
  return h;
}

function decode(bytes, responseType) {
  if (typeof bytes === 'string') bytes = op().utf8Encode(bytes);
  if (responseType === 'arraybuffer' || responseType === 'blob' || responseType === 'bytes') return bytes;
  const text = utf8Decode(bytes);
  if (responseType === 'text') return text;
  if (text === '') return text;
  try {
    return JSON.parse(text);
  } catch (e) {
    return text;
  }
}

export function failure(e, config) {
  if (e && typeof e === 'object' && typeof e.tag === 'string') {
    return new FetchError(`${e.tag}: ${e.message}`, e.tag, config);
  }
  if (isFetchError(e)) return e;
  return new FetchError(e && e.message ? e.message : String(e), 'invalid-request', config);
}

// Sends `config` (url already chosen); resolves to the response whatever its
// status. Throws a FetchError on a transport failure.
export async function exchange(config) {
  const headers = headerPairs(config.headers);
  const body = encodeBody(config.data !== undefined ? config.data : config.body, headers);
  const req = {
    method: String(config.method || 'GET').toUpperCase(),
    url: config.url,
    headers,
    query: queryPairs(config.params !== undefined ? config.params : config.query),
    body,
    root: config.root !== false,
  };
  if (config.teamUUID) req.teamUUID = String(config.teamUUID);
  if (typeof config.timeout === 'number' && config.timeout > 0) req.timeout = config.timeout;
  let raw;
  try {
    raw = await op().fetch(req);
  } catch (e) {
    throw failure(e, config);
  }
  const data = decode(raw.body, config.responseType);
  return {
    statusCode: raw.status,
    status: raw.status,
    statusText: statusText(raw.status),
    headers: headerObject(raw.headers || []),
    body: data,
    data,
    config,
  };
}

export { onesEnv };
