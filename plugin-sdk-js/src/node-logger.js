// @ones-op/node-logger: Logger → the host's log, printf-style.
import { op } from './internal/op.js';
import { format } from './internal/format.js';

// The runner writes the common lines natively (`print` answers false for
// arguments it leaves to `format`); a test's mock has only `log`.
function level(name) {
  return (...args) => {
    const natives = op();
    if (typeof natives.print === 'function' && natives.print(name, args)) return;
    natives.log(name, format(args));
  };
}

export const Logger = /* @__PURE__ */ (() => ({
  debug: level('debug'),
  info: level('info'),
  log: level('info'),
  warn: level('warning'),
  warning: level('warning'),
  error: level('error'),
}))();

export default Logger;
