// esbuild inject: the `URL` and `URLSearchParams` globals.
import URLImpl from 'core-js-pure/stable/url/index.js';
import URLSearchParamsImpl from 'core-js-pure/stable/url-search-params/index.js';

export const URL = URLImpl;
export const URLSearchParams = URLSearchParamsImpl;
