// A minimal `process` for npm code that peeks at it.
export const process = {
  env: {},
  argv: [],
  platform: 'op',
  version: '',
  versions: {},
  browser: false,
  cwd: () => '/',
  nextTick: (fn, ...args) => queueMicrotask(() => fn(...args)),
};
