// `url`: WHATWG URL / URLSearchParams (core-js-pure) and the legacy
// parse/format/resolve.
import URLImpl from 'core-js-pure/stable/url/index.js';
import URLSearchParamsImpl from 'core-js-pure/stable/url-search-params/index.js';
import { parse, format } from '../internal/urlparse.js';

export const URL = URLImpl;
export const URLSearchParams = URLSearchParamsImpl;
export { parse, format };

export function resolve(from, to) {
  const base = new URLImpl(from, 'resolve://');
  const out = new URLImpl(to, base);
  if (out.protocol === 'resolve:') {
    const { pathname, search, hash } = out;
    return from.startsWith('/') || !from ? pathname + search + hash : pathname.replace(/^\//, '') + search + hash;
  }
  return out.href;
}

export function domainToASCII(domain) {
  try {
    return new URLImpl(`http://${domain}`).hostname;
  } catch (e) {
    return '';
  }
}

export default { URL, URLSearchParams, parse, format, resolve, domainToASCII };
