// `@ones-op/fetch`, minimal (spike): OPFetch in its call forms, FetchError.
const op = globalThis.__op;

export class FetchError extends Error {
  constructor(message, response, code) {
    super(message);
    this.name = 'FetchError';
    this.isFetchError = true;
    this.response = response;
    this.status = response ? response.status : undefined;
    this.code = code;
  }
}
export const isFetchError = (e) => !!(e && e.isFetchError);

function config(a, b) {
  return typeof a === 'string' ? Object.assign({}, b, { path: a }) : Object.assign({}, a);
}

async function send(cfg) {
  const headers = [];
  for (const [k, v] of Object.entries(cfg.headers || {})) {
    for (const x of Array.isArray(v) ? v : [v]) headers.push([k.toLowerCase(), String(x)]);
  }
  const query = Object.entries(cfg.params ?? cfg.query ?? {}).map(([k, v]) => [k, String(v)]);
  let body = cfg.body ?? cfg.data;
  if (body === undefined || body === null) body = '';
  else if (typeof body !== 'string') {
    body = JSON.stringify(body);
    if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/json']);
  }
  let raw;
  try {
    raw = op.fetch({
      method: String(cfg.method || 'GET').toUpperCase(),
      url: cfg.path ?? cfg.url,
      headers, query, body,
      root: cfg.root !== false,
      teamUUID: cfg.teamUUID || undefined,
      timeout: cfg.timeout,
    });
  } catch (e) {
    throw new FetchError(e && e.tag ? `${e.tag}: ${e.message}` : String(e), undefined, e && e.tag);
  }
  let data = raw.body;
  try { data = JSON.parse(raw.body); } catch {}
  const h = {};
  for (const [k, v] of raw.headers) h[k] = k in h ? `${h[k]}, ${v}` : v;
  const res = { statusCode: raw.status, status: raw.status, headers: h, body: data, data };
  if (raw.status < 200 || raw.status > 299) {
    throw new FetchError(`Request failed with status code ${raw.status}`, res);
  }
  return res;
}

export function OPFetch(a, b) { return send(config(a, b)); }
OPFetch.get = (path, c) => OPFetch(path, Object.assign({}, c, { method: 'GET' }));
OPFetch.post = (path, data, c) => OPFetch(path, Object.assign({}, c, { method: 'POST', data }));
OPFetch.create = (defaults) => (a, b) => OPFetch(Object.assign({}, defaults, config(a, b)));
export default OPFetch;
