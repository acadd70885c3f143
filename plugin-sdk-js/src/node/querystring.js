// `querystring`: parse / stringify (and their aliases decode / encode).
import { parseQueryString, stringifyQuery } from '../internal/urlparse.js';

export const parse = (s) => parseQueryString(s);
export const stringify = (q) => stringifyQuery(q);
export const decode = parse;
export const encode = stringify;
export const escape = (s) => encodeURIComponent(s);
export const unescape = (s) => decodeURIComponent(s);
export default { parse, stringify, decode, encode, escape, unescape };
