// Secure random values from the host.
import { op } from './op.js';

export function randomUint8(n) {
  return op().randomBytes(n);
}

export function getRandomValues(array) {
  if (!ArrayBuffer.isView(array) || array instanceof DataView || array instanceof Float32Array || array instanceof Float64Array) {
    throw new TypeError('getRandomValues needs an integer typed array');
  }
  if (array.byteLength > 65536) throw new RangeError('getRandomValues: at most 65536 bytes at a time');
  const bytes = randomUint8(array.byteLength);
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}

export function randomUUID() {
  const b = randomUint8(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  let hex = '';
  for (let i = 0; i < 16; i++) hex += (b[i] + 0x100).toString(16).slice(1);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const webcrypto = { getRandomValues, randomUUID };
