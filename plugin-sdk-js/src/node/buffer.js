// `buffer`: feross's Buffer polyfill.
import * as polyfill from 'buffer/index.js';

export const Buffer = polyfill.Buffer;
export const SlowBuffer = polyfill.SlowBuffer;
export const INSPECT_MAX_BYTES = polyfill.INSPECT_MAX_BYTES;
export const kMaxLength = polyfill.kMaxLength;
export const constants = { MAX_LENGTH: polyfill.kMaxLength, MAX_STRING_LENGTH: 0x1fffffe8 };
export default { Buffer, SlowBuffer, INSPECT_MAX_BYTES, kMaxLength, constants };
