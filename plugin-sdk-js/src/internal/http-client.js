// Node's http/https client shapes over `__op.fetch` with an absolute URL
// (the host's outbound allow-list applies).
import EventEmitter from 'events/events.js';
import { Buffer } from 'buffer/index.js';
import { op } from './op.js';
import { parse } from './urlparse.js';
import { statusText } from './request.js';

export const STATUS_CODES = {
  100: 'Continue', 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content',
  301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified', 400: 'Bad Request',
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

export class Agent extends EventEmitter {
  constructor(options) {
    super();
    this.options = Object.assign({}, options);
  }
  destroy() {}
}

function isURL(a) {
  return a && typeof a === 'object' && typeof a.href === 'string' && typeof a.protocol === 'string' && 'searchParams' in a;
}

function options(a, b, defaultProtocol) {
  let cb;
  let o;
  if (typeof a === 'string' || isURL(a)) {
    const u = parse(String(isURL(a) ? a.href : a));
    o = { protocol: u.protocol, hostname: u.hostname, port: u.port, path: u.path || '/', auth: u.auth };
    if (typeof b === 'function') cb = b;
    else if (b) o = Object.assign(o, b);
  } else {
    o = Object.assign({}, a);
    if (typeof b === 'function') cb = b;
  }
  o.protocol = o.protocol || defaultProtocol;
  return { o, cb };
}

function target(o) {
  let host = o.hostname || (o.host ? String(o.host).replace(/:\d+$/, '') : 'localhost');
  if (host.includes(':') && host[0] !== '[') host = `[${host}]`;
  const port = o.port ? `:${o.port}` : '';
  let path = o.path || '/';
  if (path[0] !== '/') path = `/${path}`;
  return `${o.protocol}//${host}${port}${path}`;
}

function toBuffer(chunk, encoding) {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding || 'utf8');
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array');
}

export class IncomingMessage extends EventEmitter {
  constructor(raw) {
    super();
    this.statusCode = raw.status;
    this.statusMessage = STATUS_CODES[raw.status] || statusText(raw.status);
    this.httpVersion = '1.1';
    this.rawHeaders = [];
    this.headers = {};
    for (const [k, v] of raw.headers || []) {
      const name = k.toLowerCase();
      this.rawHeaders.push(k, v);
      if (name === 'set-cookie') this.headers[name] = (this.headers[name] || []).concat(v);
      else this.headers[name] = name in this.headers ? `${this.headers[name]}, ${v}` : v;
    }
    const body = typeof raw.body === 'string' ? Buffer.from(raw.body) : raw.body || new Uint8Array(0);
    this._body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    this._encoding = null;
    this._flowing = false;
    this.complete = false;
    this.destroyed = false;
  }
  setEncoding(encoding) {
    this._encoding = encoding || 'utf8';
    return this;
  }
  on(event, listener) {
    super.on(event, listener);
    if (event === 'data' || event === 'end' || event === 'readable') this.resume();
    return this;
  }
  resume() {
    if (!this._flowing) {
      this._flowing = true;
      Promise.resolve().then(() => this._flow());
    }
    return this;
  }
  pause() {
    return this;
  }
  _chunk() {
    return this._encoding ? this._body.toString(this._encoding) : this._body;
  }
  _flow() {
    if (this.destroyed) return;
    if (this._body.length) this.emit('data', this._chunk());
    this.complete = true;
    this.emit('end');
    this.emit('close');
  }
  read() {
    if (this.complete) return null;
    this.complete = true;
    return this._body.length ? this._chunk() : null;
  }
  pipe(dest) {
    this.on('data', (c) => dest.write(c));
    this.on('end', () => { if (typeof dest.end === 'function') dest.end(); });
    return dest;
  }
  destroy(err) {
    this.destroyed = true;
    if (err) this.emit('error', err);
    this.emit('close');
    return this;
  }
  async *[Symbol.asyncIterator]() {
    this._flowing = true;
    if (this._body.length) yield this._chunk();
    this.complete = true;
  }
}
IncomingMessage.prototype.addListener = IncomingMessage.prototype.on;

export class ClientRequest extends EventEmitter {
  constructor(o, cb) {
    super();
    this.method = String(o.method || 'GET').toUpperCase();
    this.url = target(o);
    this.path = o.path || '/';
    this.host = o.hostname || o.host;
    this.protocol = o.protocol;
    this._headers = {};
    for (const [k, v] of Object.entries(o.headers || {})) this.setHeader(k, v);
    if (o.auth && !this.hasHeader('authorization')) {
      this.setHeader('Authorization', `Basic ${Buffer.from(String(o.auth)).toString('base64')}`);
    }
    this.timeout = typeof o.timeout === 'number' ? o.timeout : undefined;
    this._chunks = [];
    this.finished = false;
    this.destroyed = false;
    if (cb) this.once('response', cb);
  }
  setHeader(name, value) {
    this._headers[String(name).toLowerCase()] = [String(name), value];
    return this;
  }
  getHeader(name) {
    const h = this._headers[String(name).toLowerCase()];
    return h ? h[1] : undefined;
  }
  hasHeader(name) {
    return String(name).toLowerCase() in this._headers;
  }
  removeHeader(name) {
    delete this._headers[String(name).toLowerCase()];
  }
  getHeaders() {
    const out = {};
    for (const k of Object.keys(this._headers)) out[k] = this._headers[k][1];
    return out;
  }
  flushHeaders() {}
  setNoDelay() {}
  setSocketKeepAlive() {}
  setTimeout(ms, cb) {
    this.timeout = ms;
    if (cb) this.once('timeout', cb);
    return this;
  }
  write(chunk, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.finished) throw new Error('write after end');
    this._chunks.push(toBuffer(chunk, encoding));
    if (cb) queueMicrotask(cb);
    return true;
  }
  end(chunk, encoding, cb) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.finished) return this;
    if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
    this.finished = true;
    if (cb) this.once('finish', cb);
    Promise.resolve().then(() => this._send());
    return this;
  }
  abort() {
    this.destroy();
  }
  destroy(err) {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (err) queueMicrotask(() => this.emit('error', err));
    queueMicrotask(() => this.emit('close'));
    return this;
  }
  async _send() {
    if (this.destroyed) return;
    this.emit('finish');
    const headers = [];
    for (const [name, value] of Object.values(this._headers)) {
      for (const x of Array.isArray(value) ? value : [value]) headers.push([name.toLowerCase(), String(x)]);
    }
    const body = Buffer.concat(this._chunks);
    const req = {
      method: this.method, url: this.url, headers, query: [],
      body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), root: false,
    };
    if (this.timeout > 0) req.timeout = this.timeout;
    let raw;
    try {
      raw = await op().fetch(req);
    } catch (e) {
      if (this.destroyed) return;
      const tag = e && typeof e === 'object' && typeof e.tag === 'string' ? e.tag : 'invalid-request';
      const err = new Error(e && e.message ? `${tag}: ${e.message}` : String(e));
      err.code = tag;
      if (tag === 'timeout') this.emit('timeout');
      this.destroyed = true;
      this.emit('error', err);
      this.emit('close');
      return;
    }
    if (this.destroyed) return;
    const res = new IncomingMessage(raw);
    this.res = res;
    if (this.listenerCount('response') > 0) this.emit('response', res);
    else res.resume();
    this.emit('close');
  }
}

export function makeClient(defaultProtocol) {
  function request(a, b, c) {
    const { o, cb } = options(a, b, defaultProtocol);
    return new ClientRequest(o, cb || (typeof c === 'function' ? c : undefined));
  }
  function get(a, b, c) {
    const req = request(a, b, c);
    req.end();
    return req;
  }
  return { request, get };
}

export function createServer() {
  throw new Error('http.createServer is not supported by op: a plugin answers through its exported functions');
}
