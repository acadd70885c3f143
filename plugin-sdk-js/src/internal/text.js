// TextEncoder / TextDecoder (UTF-8 only) over the runner's natives.
import { op } from './op.js';

export function bytesOf(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('The "input" argument must be an ArrayBuffer or an ArrayBufferView');
}

export function utf8Encode(s) {
  return op().utf8Encode(String(s));
}

export function utf8Decode(bytes, fatal = false) {
  return op().utf8Decode(bytesOf(bytes), fatal);
}

export class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(input = '') {
    return utf8Encode(input);
  }
  encodeInto(input, dest) {
    const s = String(input);
    let read = 0;
    let written = 0;
    for (const ch of s) {
      const b = utf8Encode(ch);
      if (written + b.length > dest.length) break;
      dest.set(b, written);
      written += b.length;
      read += ch.length;
    }
    return { read, written };
  }
}

const LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8'];

// Bytes at the end of `b` that start a sequence not yet complete.
function incompleteTail(b) {
  for (let i = 1; i <= Math.min(3, b.length); i++) {
    const c = b[b.length - i];
    if ((c & 0xc0) !== 0x80) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      return need > i ? i : 0;
    }
  }
  return 0;
}

export class TextDecoder {
  constructor(label = 'utf-8', options = {}) {
    if (!LABELS.includes(String(label).trim().toLowerCase())) {
      throw new RangeError(`The "${label}" encoding is not supported (op's TextDecoder knows UTF-8 only)`);
    }
    this.fatal = !!(options && options.fatal);
    this.ignoreBOM = !!(options && options.ignoreBOM);
    this._pending = null;
    this._started = false;
  }
  get encoding() {
    return 'utf-8';
  }
  decode(input, options) {
    let bytes = input === undefined ? new Uint8Array(0) : bytesOf(input);
    if (this._pending) {
      const joined = new Uint8Array(this._pending.length + bytes.length);
      joined.set(this._pending);
      joined.set(bytes, this._pending.length);
      bytes = joined;
      this._pending = null;
    }
    const stream = !!(options && options.stream);
    if (stream) {
      const tail = incompleteTail(bytes);
      if (tail) {
        this._pending = bytes.slice(bytes.length - tail);
        bytes = bytes.subarray(0, bytes.length - tail);
      }
    }
    let s = op().utf8Decode(bytes, this.fatal);
    if (!this._started && !this.ignoreBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    this._started = stream && (this._started || s.length > 0);
    return s;
  }
}
