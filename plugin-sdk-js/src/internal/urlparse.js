// Node's legacy url.parse / url.format, minimal (no URL class needed).

const AUTHORITY = /^([a-z][a-z0-9+.-]*:)?(\/\/)?(?:([^@/?#]*)@)?(\[[^\]]*\]|[^/?#:]*)(?::(\d*))?/i;

export function parseQueryString(s) {
  const out = {};
  for (const part of String(s || '').replace(/^\?/, '').split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const dec = (x) => { try { return decodeURIComponent(x.replace(/\+/g, ' ')); } catch (e) { return x; } };
    const k = dec(i < 0 ? part : part.slice(0, i));
    const v = i < 0 ? '' : dec(part.slice(i + 1));
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

export function stringifyQuery(q) {
  const parts = [];
  for (const k of Object.keys(q || {})) {
    const v = q[k];
    for (const x of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(x === undefined || x === null ? '' : String(x))}`);
    }
  }
  return parts.join('&');
}

export function parse(input, parseQuery) {
  const s = String(input).trim();
  let rest = s;
  const u = {
    protocol: null, slashes: null, auth: null, host: null, port: null, hostname: null,
    hash: null, search: null, query: null, pathname: null, path: null, href: s,
  };
  const m = AUTHORITY.exec(s);
  if (m && m[1] && (m[2] || m[1])) {
    u.protocol = m[1].toLowerCase();
    if (m[2]) {
      u.slashes = true;
      u.auth = m[3] !== undefined ? decodeURIComponent(m[3]) : null;
      u.hostname = m[4].toLowerCase().replace(/^\[|\]$/g, '');
      u.port = m[5] ? m[5] : null;
      u.host = m[4].toLowerCase() + (u.port ? `:${u.port}` : '');
      rest = s.slice(m[0].length);
    } else {
      rest = s.slice(m[1].length);
    }
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    u.hash = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    u.search = rest.slice(q);
    u.query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  } else if (parseQuery) {
    u.search = '';
    u.query = {};
  }
  if (parseQuery && typeof u.query === 'string') u.query = parseQueryString(u.query);
  u.pathname = rest || (u.slashes ? '/' : null);
  u.path = (u.pathname || '') + (u.search || '') || null;
  if (u.slashes && !rest) u.href = `${u.protocol}//${u.auth ? u.auth + '@' : ''}${u.host}/${u.search || ''}${u.hash || ''}`;
  return u;
}

export function format(u) {
  if (typeof u === 'string') return u;
  if (u && typeof u.href === 'string' && u.searchParams) return u.href;
  const protocol = u.protocol ? (u.protocol.endsWith(':') ? u.protocol : u.protocol + ':') : '';
  let host = '';
  if (u.host) host = u.host;
  else if (u.hostname) host = (u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname) + (u.port ? `:${u.port}` : '');
  const slashes = u.slashes || /^(https?|ftp|wss?|file):$/.test(protocol) ? '//' : '';
  const auth = u.auth ? `${encodeURIComponent(u.auth).replace(/%3A/i, ':')}@` : '';
  let pathname = u.pathname || '';
  if (host && pathname && pathname[0] !== '/') pathname = '/' + pathname;
  let search = u.search || '';
  if (!search && u.query && typeof u.query === 'object') {
    const qs = stringifyQuery(u.query);
    search = qs ? `?${qs}` : '';
  } else if (!search && typeof u.query === 'string' && u.query) {
    search = `?${u.query}`;
  }
  if (search && search[0] !== '?') search = `?${search}`;
  let hash = u.hash || '';
  if (hash && hash[0] !== '#') hash = `#${hash}`;
  return `${protocol}${host || auth ? slashes : ''}${auth}${host}${pathname}${search}${hash}`;
}
