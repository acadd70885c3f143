// `crypto`: secure random values from the host; hashing, ciphers and keys
// are not provided (each such function throws, naming itself).
import { Buffer } from 'buffer/index.js';
import { randomUint8, getRandomValues, randomUUID, webcrypto } from '../internal/random.js';
import { unsupported } from '../internal/op.js';

export { getRandomValues, randomUUID, webcrypto };

export function randomBytes(size, callback) {
  if (typeof size !== 'number' || size < 0 || !Number.isInteger(size)) {
    throw new RangeError('The "size" argument must be a non-negative integer');
  }
  const bytes = randomUint8(size);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (typeof callback === 'function') {
    queueMicrotask(() => callback(null, buf));
    return undefined;
  }
  return buf;
}

export function randomFillSync(target, offset = 0, size) {
  const view = new Uint8Array(target.buffer || target, (target.byteOffset || 0) + offset,
    size === undefined ? (target.byteLength - offset) : size);
  view.set(randomUint8(view.length));
  return target;
}

export function randomInt(min, max, callback) {
  if (max === undefined || typeof max === 'function') {
    callback = max;
    max = min;
    min = 0;
  }
  const range = max - min;
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || range <= 0 || range > 2 ** 48) {
    throw new RangeError('randomInt: need safe integers with 0 < max - min <= 2^48');
  }
  // rejection sampling over 48 bits
  const limit = 2 ** 48 - (2 ** 48 % range);
  let x;
  do {
    const b = randomUint8(6);
    x = ((b[0] * 256 + b[1]) * 256 + b[2]) * 2 ** 24 + ((b[3] * 256 + b[4]) * 256 + b[5]);
  } while (x >= limit);
  const n = min + (x % range);
  if (typeof callback === 'function') {
    queueMicrotask(() => callback(null, n));
    return undefined;
  }
  return n;
}

export function timingSafeEqual(a, b) {
  if (a.byteLength !== b.byteLength) throw new RangeError('Input buffers must have the same byte length');
  const x = new Uint8Array(a.buffer || a, a.byteOffset || 0, a.byteLength);
  const y = new Uint8Array(b.buffer || b, b.byteOffset || 0, b.byteLength);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

export const createHash = /* @__PURE__ */ unsupported('crypto.createHash');
export const createHmac = /* @__PURE__ */ unsupported('crypto.createHmac');
export const createCipheriv = /* @__PURE__ */ unsupported('crypto.createCipheriv');
export const createDecipheriv = /* @__PURE__ */ unsupported('crypto.createDecipheriv');
export const createSign = /* @__PURE__ */ unsupported('crypto.createSign');
export const createVerify = /* @__PURE__ */ unsupported('crypto.createVerify');
export const createPublicKey = /* @__PURE__ */ unsupported('crypto.createPublicKey');
export const createPrivateKey = /* @__PURE__ */ unsupported('crypto.createPrivateKey');
export const createSecretKey = /* @__PURE__ */ unsupported('crypto.createSecretKey');
export const generateKeyPair = /* @__PURE__ */ unsupported('crypto.generateKeyPair');
export const generateKeyPairSync = /* @__PURE__ */ unsupported('crypto.generateKeyPairSync');
export const pbkdf2 = /* @__PURE__ */ unsupported('crypto.pbkdf2');
export const pbkdf2Sync = /* @__PURE__ */ unsupported('crypto.pbkdf2Sync');
export const scrypt = /* @__PURE__ */ unsupported('crypto.scrypt');
export const scryptSync = /* @__PURE__ */ unsupported('crypto.scryptSync');
export const publicEncrypt = /* @__PURE__ */ unsupported('crypto.publicEncrypt');
export const privateDecrypt = /* @__PURE__ */ unsupported('crypto.privateDecrypt');
export const getHashes = () => [];

export default {
  randomBytes, randomFillSync, randomInt, randomUUID, getRandomValues, webcrypto, timingSafeEqual,
  createHash, createHmac, createCipheriv, createDecipheriv, createSign, createVerify,
  createPublicKey, createPrivateKey, createSecretKey, generateKeyPair, generateKeyPairSync,
  pbkdf2, pbkdf2Sync, scrypt, scryptSync, publicEncrypt, privateDecrypt, getHashes,
};
