// `util`: format, inspect (single-line, minimal), promisify, callbackify,
// inherits, deprecate, types, TextEncoder/TextDecoder.
import { format as formatArgs, inspect as inspectValue } from '../internal/format.js';
import { TextEncoder, TextDecoder } from '../internal/text.js';

export { TextEncoder, TextDecoder };

export function format(...args) {
  return formatArgs(args);
}

export function inspect(value, options) {
  return inspectValue(value, options);
}
inspect.custom = Symbol.for('nodejs.util.inspect.custom');

const CUSTOM = Symbol.for('nodejs.util.promisify.custom');

export function promisify(fn) {
  if (typeof fn !== 'function') throw new TypeError('The "original" argument must be of type function');
  if (fn[CUSTOM]) return fn[CUSTOM];
  function promisified(...args) {
    return new Promise((resolve, reject) => {
      fn.call(this, ...args, (err, ...values) => (err ? reject(err) : resolve(values.length > 1 ? values : values[0])));
    });
  }
  Object.setPrototypeOf(promisified, Object.getPrototypeOf(fn));
  return promisified;
}
promisify.custom = CUSTOM;

export function callbackify(fn) {
  return function (...args) {
    const cb = args.pop();
    fn.apply(this, args).then((v) => cb(null, v), (e) => cb(e || new Error('Promise was rejected with a falsy value')));
  };
}

export function inherits(ctor, superCtor) {
  Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

export function deprecate(fn, message) {
  let warned = false;
  return function (...args) {
    if (!warned) {
      warned = true;
      console.warn(`DeprecationWarning: ${message}`);
    }
    return fn.apply(this, args);
  };
}

export const types = {
  isPromise: (v) => v instanceof Promise,
  isDate: (v) => v instanceof Date,
  isRegExp: (v) => v instanceof RegExp,
  isUint8Array: (v) => v instanceof Uint8Array,
  isArrayBuffer: (v) => v instanceof ArrayBuffer,
  isAnyArrayBuffer: (v) => v instanceof ArrayBuffer,
  isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
  isNativeError: (v) => v instanceof Error,
};

export const isArray = Array.isArray;

export default { format, inspect, promisify, callbackify, inherits, deprecate, types, isArray, TextEncoder, TextDecoder };
