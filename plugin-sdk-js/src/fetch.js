// @ones-op/fetch: OPFetch (ONES API as the plugin's super-admin or as the
// caller), Fetch (outside hosts), FetchAsAdmin and getOpenApiToken (ONES
// OpenAPI v2), FetchError and isFetchError.
import { exchange, FetchError, isFetchError, isAbsolute, onesEnv } from './internal/request.js';

export { FetchError, isFetchError };

function callConfig(a, b) {
  if (typeof a === 'string') return Object.assign({}, b, { url: a, path: undefined });
  return Object.assign({}, a);
}

function merge(defaults, config) {
  const out = Object.assign({}, defaults, config);
  out.headers = Object.assign({}, defaults.headers, config.headers);
  const url = config.url !== undefined ? config.url : config.path !== undefined ? config.path
    : defaults.url !== undefined ? defaults.url : defaults.path;
  out.url = url;
  delete out.path;
  return out;
}

function validate(config, status) {
  if (config.validateStatus === null) return true;
  if (typeof config.validateStatus === 'function') return !!config.validateStatus(status);
  return status >= 200 && status < 300;
}

async function send(config, kind) {
  let url = config.url;
  if (url === undefined || url === null || url === '') {
    throw new FetchError(`${kind}: no path or url given`, 'invalid-request', config);
  }
  url = String(url);
  if (config.baseURL && !isAbsolute(url)) {
    url = String(config.baseURL).replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
  }
  if (kind === 'Fetch' && !isAbsolute(url)) {
    throw new FetchError(`Fetch needs an absolute URL (got ${url}); OPFetch calls ONES paths`, 'invalid-request', config);
  }
  config = Object.assign({}, config, { url });
  if (kind === 'Fetch') config.root = false;
  const res = await exchange(config);
  if (!validate(config, res.status)) {
    const code = res.status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST';
    throw new FetchError(`Request failed with status code ${res.status}`, code, config, res);
  }
  return res;
}

function instance(defaults, kind) {
  const fetcher = (a, b) => send(merge(defaults, callConfig(a, b)), kind);
  fetcher.request = fetcher;
  for (const method of ['get', 'delete', 'head', 'options']) {
    fetcher[method] = (url, config) => fetcher(url, Object.assign({}, config, { method: method.toUpperCase() }));
  }
  for (const method of ['post', 'put', 'patch']) {
    fetcher[method] = (url, data, config) => fetcher(url, Object.assign({}, config, { method: method.toUpperCase(), data }));
  }
  fetcher.create = (more) => instance(merge(defaults, Object.assign({}, more)), kind);
  fetcher.defaults = defaults;
  return fetcher;
}

export const OPFetch = /* @__PURE__ */ instance({}, 'OPFetch');
export const Fetch = /* @__PURE__ */ instance({}, 'Fetch');

const TOKEN_PREFIX = 'op-openapi-token:';

// The stand-in for an OpenAPI token. op's host swaps a bearer token of
// exactly this form, on its way to ONES, for the real one; the real token
// never enters the plugin, and the stand-in is worthless anywhere else.
export async function getOpenApiToken(options) {
  const teamID = (options && (options.teamID || options.teamUUID)) || onesEnv().teamUUID || '';
  return TOKEN_PREFIX + teamID;
}

export async function FetchAsAdmin(path, options) {
  const o = Object.assign({}, options);
  const teamID = (o.params && o.params.teamID) || o.teamID || onesEnv().teamUUID || '';
  const token = await getOpenApiToken({ teamID });
  const headers = Object.assign({}, o.headers, { Authorization: `Bearer ${token}` });
  return OPFetch(Object.assign({}, o, {
    url: path,
    method: o.method || 'GET',
    headers,
    root: true,
    teamUUID: teamID || undefined,
  }));
}

export default OPFetch;
