// @ones-op/node-logger: Logger → the host's log, printf-style.
import { op } from './internal/op.js';
import { format } from './internal/format.js';

function level(name) {
  return (...args) => {
    op().log(name, format(args));
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
