// The JS side of op's runner, evaluated once at snapshot time before the
// bundle. It is a function expression: the runner calls it with `op` (the
// public natives, `globalThis.__op`) and `internal` (natives only the runner
// uses), and keeps what it returns: the functions `lib.rs` calls.
//
// Everything a call needs is created here, once, and frozen into the
// snapshot; a call creates only its request object, and that lazily (see
// `PluginRequest`), because every object made inside a call is memory
// touched in a fresh instance.
(function (op, internal) {
  'use strict';
  const { env: nativeEnv, now, request: nativeRequest, respond, fail } = internal;

  // ----- onesEnv -------------------------------------------------------
  // At snapshot time: the installation's values op staged with the bundle.
  // Inside a call: the live ones, read once per instance (a call is one
  // fresh instance). The same object is answered for the whole call.
  function envObject(teamUUID, organizationUUID, instanceId, config) {
    const out = {};
    for (const k in config) out[k] = config[k];
    out.teamUUID = teamUUID;
    out.organizationUUID = organizationUUID;
    out.orgUUID = organizationUUID;
    out.instanceId = instanceId;
    out.config = config;
    return out;
  }
  let snapshotEnv = null;
  let liveEnv = null;
  function onesEnv() {
    if (liveEnv !== null) return liveEnv;
    const raw = nativeEnv();
    if (raw === null) {
      // Snapshot time.
      if (snapshotEnv === null) {
        const s = internal.snapshotEnv || {};
        const config = s.config && typeof s.config === 'object' ? s.config : {};
        snapshotEnv = envObject(s.teamUUID, s.organizationUUID ?? s.orgUUID, s.instanceId, config);
      }
      return snapshotEnv;
    }
    const config = {};
    const pairs = raw[3];
    for (let i = 0; i < pairs.length; i += 2) config[pairs[i]] = pairs[i + 1];
    liveEnv = envObject(raw[0], raw[1], raw[2], config);
    return liveEnv;
  }
  Object.defineProperty(globalThis, 'onesEnv', { get: onesEnv, set: undefined, configurable: true, enumerable: false });

  // ----- console -------------------------------------------------------
  function show(a) {
    switch (typeof a) {
      case 'string': return a;
      case 'undefined': return 'undefined';
      case 'function': return `[Function: ${a.name || '(anonymous)'}]`;
      case 'symbol': return a.toString();
      case 'bigint': return `${a}n`;
      case 'number': return Object.is(a, -0) ? '-0' : String(a);
      case 'object':
        if (a === null) return 'null';
        if (a instanceof Error) {
          const head = `${a.name}: ${a.message}`;
          const stack = typeof a.stack === 'string' ? a.stack.trimEnd() : '';
          // QuickJS's stack has no head line (V8's has).
          return stack === '' ? head : stack.startsWith(head) ? stack : `${head}\n${stack}`;
        }
        return json(a);
      default: return String(a);
    }
  }
  function json(a) {
    // Plain data first (no replacer to call per key); cycles, BigInts and
    // throwing getters take the careful way.
    try {
      const text = JSON.stringify(a);
      if (text !== undefined) return text;
    } catch {}
    const stack = [];
    try {
      const text = JSON.stringify(a, function (k, v) {
        if (typeof v === 'bigint') return `${v}n`;
        if (typeof v === 'function') return `[Function: ${v.name || '(anonymous)'}]`;
        if (v !== null && typeof v === 'object') {
          // The path from the root to `this`: a value on it is a cycle.
          while (stack.length && stack[stack.length - 1] !== this) stack.pop();
          if (stack.includes(v)) return '[Circular]';
          stack.push(v);
        }
        return v;
      });
      return text === undefined ? String(a) : text;
    } catch {
      try { return String(a); } catch { return '[object]'; }
    }
  }
  // printf-style, as Node's util.format: %s %d %i %f %j %o %O %c %%.
  function format(args) {
    const first = args[0];
    let i = 0;
    let out = '';
    if (typeof first === 'string') {
      i = 1;
      // As Node: a lone format string is answered as it is (`%%` too).
      if (args.length === 1 || first.indexOf('%') < 0) out = first;
      else {
        let last = 0;
        for (let p = first.indexOf('%'); p >= 0 && p + 1 < first.length; p = first.indexOf('%', p)) {
          const c = first.charCodeAt(p + 1);
          let piece;
          if (c === 37) piece = '%'; // %%
          else if (i >= args.length) { p += 2; continue; }
          else {
            const a = args[i];
            switch (c) {
              case 115: piece = show(a); break; // s
              case 100: piece = typeof a === 'bigint' ? `${a}n` : typeof a === 'symbol' ? 'NaN' : String(Number(a)); break; // d
              case 105: piece = typeof a === 'bigint' ? `${a}n` : typeof a === 'symbol' ? 'NaN' : String(parseInt(a)); break; // i
              case 102: piece = typeof a === 'symbol' ? 'NaN' : String(parseFloat(a)); break; // f
              case 106: piece = json(a); break; // j
              case 111: case 79: piece = show(a); break; // o O
              case 99: piece = ''; break; // c (CSS): consumed
              default: p += 1; continue;
            }
            i++;
          }
          out += first.slice(last, p) + piece;
          p += 2;
          last = p;
        }
        out += first.slice(last);
      }
    }
    for (; i < args.length; i++) out += (out === '' && i === 0 ? '' : ' ') + show(args[i]);
    return out;
  }
  const log = op.log;
  const print = op.print;
  // The common lines (strings, numbers, plain data) are written natively.
  const level = (l) => function (...args) { if (!print(l, args)) log(l, format(args)); };
  globalThis.console = {
    log: level('info'), info: level('info'), debug: level('debug'), trace: level('debug'),
    warn: level('warning'), error: level('error'),
  };

  // ----- timers --------------------------------------------------------
  // The runner's drive loop asks `nextTimer()` how long to wait when no
  // job is left, waits for real, and calls `fireTimer()`. At snapshot time
  // nothing waits: timers set at top level are dropped after it.
  let timers = new Map();
  let timerSeq = 0;
  class Timeout {
    constructor(id) { this._id = id; }
    ref() { return this; }
    unref() { return this; }
    hasRef() { return timers.has(this._id); }
    refresh() {
      const t = timers.get(this._id);
      if (t) { t.at = now() + t.ms; t.seq = ++timerSeq; }
      return this;
    }
    close() { timers.delete(this._id); return this; }
    [Symbol.toPrimitive]() { return this._id; }
  }
  class Immediate {
    constructor(id) { this._id = id; }
    ref() { return this; }
    unref() { return this; }
    hasRef() { return timers.has(this._id); }
    [Symbol.toPrimitive]() { return this._id; }
  }
  function callback(fn) {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
  }
  // `seq` orders timers due at the same time (first set, first run); a
  // timer keeps its id (its key) when an interval or refresh() moves it.
  function addTimer(fn, ms, args, repeat) {
    callback(fn);
    ms = +ms;
    // As Node: a delay below 1 ms (or not a number) is 1 ms.
    if (!(ms >= 1 && ms <= 2147483647)) ms = 1;
    const id = ++timerSeq;
    timers.set(id, { fn, args, ms, at: now() + ms, seq: id, repeat });
    return id;
  }
  function clear(t) {
    if (t === undefined || t === null) return;
    timers.delete(typeof t === 'object' ? t._id : +t);
  }
  globalThis.setTimeout = (fn, ms, ...args) => new Timeout(addTimer(fn, ms, args, false));
  globalThis.setInterval = (fn, ms, ...args) => new Timeout(addTimer(fn, ms, args, true));
  globalThis.setImmediate = (fn, ...args) => {
    callback(fn);
    const id = ++timerSeq;
    // Due now: before any timer due later, after those due already.
    timers.set(id, { fn, args, ms: 0, at: now(), seq: id, repeat: false });
    return new Immediate(id);
  };
  globalThis.clearTimeout = clear;
  globalThis.clearInterval = clear;
  globalThis.clearImmediate = clear;
  globalThis.queueMicrotask = (fn) => {
    callback(fn);
    Promise.resolve().then(() => fn());
  };
  function earliest() {
    let best = null;
    let bestId = 0;
    for (const [id, t] of timers) {
      if (best === null || t.at < best.at || (t.at === best.at && t.seq < best.seq)) { best = t; bestId = id; }
    }
    return best === null ? 0 : bestId;
  }
  // Milliseconds until the earliest timer is due (0 when due), -1 for none.
  function nextTimer() {
    const id = earliest();
    if (id === 0) return -1;
    const wait = timers.get(id).at - now();
    return wait > 0 ? wait : 0;
  }
  // Runs the earliest timer. A throw in it is logged: the call goes on, and
  // its own promise decides the answer.
  function fireTimer() {
    const id = earliest();
    if (id === 0) return;
    const t = timers.get(id);
    if (t.repeat) { t.at = now() + t.ms; t.seq = ++timerSeq; } else timers.delete(id);
    try {
      t.fn(...t.args);
    } catch (e) {
      log('error', `uncaught exception in a timer: ${show(e)}`);
    }
  }
  function timersPending() { return timers.size > 0; }

  // ----- requests ------------------------------------------------------
  // A PluginRequest reads the WIT request from the runner only for what
  // the function looks at: each field is computed at its first read and
  // kept (and may be assigned like any other). The body arrives already
  // parsed (JSON.parse natively, else the text, else undefined); params,
  // query and headers arrive as objects (a repeated header's values joined
  // with ", "), and ONES code reads 'Ones-User-Id', 'ones-user-id', ...
  // (names arrive in lower case): the headers sit behind a proxy that
  // lower-cases the names looked up.
  const FIELD_PARAMS = 0, FIELD_QUERY = 1, FIELD_HEADERS = 2, FIELD_BODY = 3, FIELD_RAW = 4;
  const lower = (k) => (typeof k === 'string' ? k.toLowerCase() : k);
  const headerTraps = {
    get: (t, k) => t[lower(k)],
    has: (t, k) => lower(k) in t,
    set: (t, k, v) => { t[lower(k)] = v; return true; },
    deleteProperty: (t, k) => delete t[lower(k)],
    getOwnPropertyDescriptor: (t, k) => Reflect.getOwnPropertyDescriptor(t, lower(k)),
  };
  // The fields computed so far live under symbols (not own string keys:
  // `Object.keys(request)` is `method, url`); a field assigned `undefined`
  // is kept as NONE.
  const NONE = Symbol('none');
  const PATH = Symbol('path'), PARAMS = Symbol('params'), QUERY = Symbol('query');
  const HEADERS = Symbol('headers'), BODY = Symbol('body'), RAW = Symbol('rawBody');
  const put = (v) => (v === undefined ? NONE : v);
  const got = (v) => (v === NONE ? undefined : v);
  class PluginRequest {
    constructor(method, url) {
      this.method = method;
      this.url = url;
    }
    get path() {
      const v = this[PATH];
      if (v !== undefined) return got(v);
      const q = this.url.indexOf('?');
      return got(this[PATH] = put(q < 0 ? this.url : this.url.slice(0, q)));
    }
    set path(v) { this[PATH] = put(v); }
    get params() { const v = this[PARAMS]; return v !== undefined ? got(v) : (this[PARAMS] = nativeRequest(FIELD_PARAMS)); }
    set params(v) { this[PARAMS] = put(v); }
    get query() { const v = this[QUERY]; return v !== undefined ? got(v) : (this[QUERY] = nativeRequest(FIELD_QUERY)); }
    set query(v) { this[QUERY] = put(v); }
    get headers() { const v = this[HEADERS]; return v !== undefined ? got(v) : (this[HEADERS] = new Proxy(nativeRequest(FIELD_HEADERS), headerTraps)); }
    set headers(v) { this[HEADERS] = put(v); }
    get body() { const v = this[BODY]; return v !== undefined ? got(v) : got(this[BODY] = put(nativeRequest(FIELD_BODY))); }
    set body(v) { this[BODY] = put(v); }
    get rawBody() { const v = this[RAW]; return v !== undefined ? got(v) : (this[RAW] = nativeRequest(FIELD_RAW)); }
    set rawBody(v) { this[RAW] = put(v); }
    // `JSON.stringify(request)` and `console.log(request)` show every field.
    toJSON() {
      return {
        method: this.method, url: this.url, path: this.path, params: this.params,
        query: this.query, headers: Object.assign({}, this.headers), body: this.body,
      };
    }
  }
  for (const k of ['path', 'params', 'query', 'headers', 'body', 'rawBody']) {
    Object.defineProperty(PluginRequest.prototype, k, { enumerable: true });
  }

  // ----- answers -------------------------------------------------------
  // `respond(status, [k, v, ...], body, typed)`: the body as it is (a
  // string, bytes, or anything else for the runner to JSON-encode, adding
  // the content type unless `typed`).
  const noHeaders = [];
  function answer(res) {
    if (res === undefined || res === null) { respond(undefined, noHeaders, '', true); return; }
    if (typeof res !== 'object') {
      // A bare value is the body.
      respond(undefined, noHeaders, res, typeof res === 'string');
      return;
    }
    let headers = noHeaders;
    let typed = false;
    const given = res.headers;
    if (given !== undefined && given !== null) {
      headers = [];
      for (const k of Object.keys(given)) {
        const v = given[k];
        if (v === undefined || v === null) continue;
        const name = k.toLowerCase();
        if (name === 'content-type') typed = true;
        if (Array.isArray(v)) for (const x of v) headers.push(name, String(x));
        else headers.push(name, String(v));
      }
    }
    let status = res.statusCode;
    if (status === null) status = undefined;
    else if (status !== undefined && (typeof status !== 'number' || !(status >= 100 && status <= 999))) {
      throw new TypeError(`statusCode must be a number from 100 to 999, not ${show(status)}`);
    }
    respond(status, headers, res.body, typed);
  }
  // The ONES error shape, from whatever was thrown.
  function failWith(e) {
    try { shapeError(e); } catch { fail(500, 'error', 'the thrown value cannot be read', 'error'); }
  }
  function shapeError(e) {
    if (e === null || typeof e !== 'object') { fail(500, 'error', show(e), 'error'); return; }
    const b = e.body !== null && typeof e.body === 'object' ? e.body : {};
    const model = e.model ?? b.model;
    const kind = typeof model === 'string' && model !== '' ? model.replace(/^plugin\./, '') : 'error';
    let status = e.statusCode ?? e.status;
    if (typeof status !== 'number' || !(status >= 400 && status <= 599)) status = 500;
    let reason = e.reason ?? b.reason ?? e.message;
    reason = reason === undefined || reason === null ? show(e) : String(reason);
    const type = e.type ?? b.type;
    fail(status | 0, kind, reason, type === 'warning' ? 'warning' : 'error');
  }
  function settled(res) {
    try { answer(res); } catch (e) { failWith(e); }
  }

  let exports = null;
  // One call: the function's value, for the runner to settle (a promise
  // is followed by the runner itself). A missing function is answered here.
  function call(name, method, url) {
    const fn = exports === null ? undefined : exports[name];
    if (typeof fn !== 'function') {
      fail(404, 'not_found', `no function \`${name}\``, 'error');
      return undefined;
    }
    return fn(new PluginRequest(method, url));
  }

  return {
    call,
    settled,
    failWith,
    // A thenable that is not a Promise, as a Promise.
    adopt: (v) => Promise.resolve(v),
    nextTimer,
    fireTimer,
    timersPending,
    // After the top level, before the snapshot: keep the exports, forget
    // what the top level left (timers, the snapshot-time onesEnv), and
    // make the shapes a call's objects take (so that a call finds them).
    ready(namespace) {
      exports = namespace;
      timers = new Map();
      liveEnv = null;
      const warm = new PluginRequest('GET', '/');
      void warm.path;
      void warm.body;
      try { answer({ statusCode: 200, headers: { a: 'b' }, body: {} }); } catch {}
    },
  };
})
