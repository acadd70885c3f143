// @ones-op/node-fetch (legacy): fetchONES and fetchHttp never reject; they
// answer {statusCode, body, headers, error}.
import { exchange, failure, isAbsolute } from './internal/request.js';
import { utf8Decode } from './internal/text.js';

// Parsed JSON when it parses, text for a text type, else the bytes.
function legacyBody(bytes, headers) {
  if (typeof bytes === 'string') return bytes;
  const text = utf8Decode(bytes);
  if (text === '') return text;
  try {
    return JSON.parse(text);
  } catch (e) {
    return /^text\/|json|xml|urlencoded/i.test(headers['content-type'] || '') ? text : bytes;
  }
}

async function legacy(options, outside) {
  const config = Object.assign({}, options);
  config.url = config.url !== undefined ? config.url : config.path;
  config.responseType = 'arraybuffer';
  if (outside) config.root = false;
  try {
    if (!config.url) throw new Error('no path or url given');
    if (outside && !isAbsolute(String(config.url))) throw new Error(`fetchHttp needs an absolute URL (got ${config.url})`);
    const res = await exchange(config);
    return { statusCode: res.status, body: legacyBody(res.body, res.headers), headers: res.headers, error: undefined };
  } catch (e) {
    return { statusCode: 0, body: undefined, headers: {}, error: failure(e, config) };
  }
}

export function fetchONES(options) {
  return legacy(options, false);
}

export function fetchHttp(options) {
  return legacy(options, true);
}

export default { fetchONES, fetchHttp };
