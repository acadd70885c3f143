// esbuild inject: the `Buffer` global, for bundles that use it.
import * as polyfill from 'buffer/index.js';

export const Buffer = polyfill.Buffer;
