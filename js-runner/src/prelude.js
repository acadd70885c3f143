// The JS side of op's runner: shapes the WIT request into a PluginRequest,
// a function's answer into the WIT response and a throw into the ONES error
// shape. Evaluated once, at snapshot time.
(() => {
  const op = globalThis.__op;

  // Evaluated at snapshot time, op has no environment to give: the values
  // op staged with the bundle (the installation's) serve top-level reads;
  // inside a call the env import is asked, once per instance.
  let live = null;
  function env() {
    if (live) return live;
    const raw = op.env();
    if (raw === null) {
      op.envReadAtInit = true;
      return op.snapshotEnv || {};
    }
    const [teamUUID, organizationUUID, instanceId, config] = raw;
    const values = {};
    for (const [k, v] of config) values[k] = v;
    live = Object.assign({}, values, {
      teamUUID, organizationUUID, orgUUID: organizationUUID, instanceId, config: values,
    });
    return live;
  }
  Object.defineProperty(globalThis, 'onesEnv', { get: env, configurable: true });
  globalThis.__op_reset = () => { live = null; };

  function text(args) {
    const show = (a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return a.stack ? `${a.name}: ${a.message}\n${a.stack}` : `${a.name}: ${a.message}`;
      try { return JSON.stringify(a); } catch { return String(a); }
    };
    if (typeof args[0] === 'string' && args[0].includes('%')) {
      let i = 1;
      const first = args[0].replace(/%[sdifjoO%]/g, (m) => (m === '%%' ? '%' : i < args.length ? show(args[i++]) : m));
      return [first, ...args.slice(i).map(show)].join(' ');
    }
    return args.map(show).join(' ');
  }
  op.text = text;
  const level = (l) => (...args) => op.log(l, text(args));
  globalThis.console = {
    log: level('info'), info: level('info'), debug: level('debug'),
    warn: level('warning'), error: level('error'), trace: level('debug'),
  };

  function headerObject(pairs) {
    const h = {};
    for (const [k, v] of pairs) h[k] = k in h ? `${h[k]}, ${v}` : v;
    // ONES code looks headers up as 'Ones-User-Id', 'ones-user-id', ...
    return new Proxy(h, {
      get: (t, k) => (typeof k === 'string' ? t[k.toLowerCase()] : t[k]),
      has: (t, k) => (typeof k === 'string' ? k.toLowerCase() in t : k in t),
    });
  }
  function record(pairs) {
    const o = {};
    for (const [k, v] of pairs) o[k] = v;
    return o;
  }
  function request(raw) {
    let body;
    if (raw.body !== '') {
      try { body = JSON.parse(raw.body); } catch { body = raw.body; }
    }
    return {
      method: raw.method, url: raw.url, path: raw.url.split('?')[0],
      params: record(raw.params), query: record(raw.query),
      headers: headerObject(raw.headers), body,
    };
  }
  function response(res) {
    if (res === undefined || res === null) return { status: undefined, headers: [], body: '' };
    const headers = [];
    for (const [k, v] of Object.entries(res.headers || {})) {
      for (const x of Array.isArray(v) ? v : [v]) headers.push([k.toLowerCase(), String(x)]);
    }
    let body = res.body;
    if (body === undefined || body === null) body = '';
    else if (typeof body !== 'string') {
      body = JSON.stringify(body);
      if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/json']);
    }
    return { status: res.statusCode ?? undefined, headers, body };
  }
  function error(e) {
    if (e === null || typeof e !== 'object') return { status: 500, kind: 'error', reason: String(e) };
    const b = e.body && typeof e.body === 'object' ? e.body : {};
    const model = e.model ?? b.model;
    const kind = typeof model === 'string' ? model.replace(/^plugin\./, '') : 'error';
    let status = e.statusCode ?? e.status ?? b.code;
    if (typeof status !== 'number' || status < 400 || status > 599) status = 500;
    return {
      status, kind,
      reason: String(e.reason ?? b.reason ?? e.message ?? text([e])),
      type: e.type ?? b.type,
    };
  }
  globalThis.__op_call = async (name, raw) => {
    const fn = globalThis.__op_exports[name];
    if (typeof fn !== 'function') throw { status: 404, kind: 'not_found', reason: `no function \`${name}\`` };
    let res;
    try {
      res = await fn(request(raw));
    } catch (e) {
      throw error(e);
    }
    return response(res);
  };
})();
