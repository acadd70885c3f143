// Access to the runner's natives. Read on every use (never cached at module
// top level) so that tests can install a fresh mock between calls.
export function op() {
  const natives = globalThis.__op;
  if (!natives) {
    throw new Error('op natives (globalThis.__op) are missing: this code runs inside op, or under plugin-sdk-js/testing.mjs');
  }
  return natives;
}

export function onesEnv() {
  return globalThis.onesEnv || {};
}

// An Error carrying a fixed message for a name op does not provide.
export function unsupported(name, what = 'is not supported by op') {
  const fn = function () {
    throw new Error(`${name} ${what}`);
  };
  Object.defineProperty(fn, 'name', { value: name.split('.').pop() });
  return fn;
}
