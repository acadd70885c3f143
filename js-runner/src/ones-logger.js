// `@ones-op/node-logger`: the host's log, printf-style `%s`.
const op = globalThis.__op;
const level = (l) => (...args) => op.log(l, op.text(args));
export const Logger = {
  debug: level('debug'), info: level('info'), log: level('info'),
  warn: level('warning'), warning: level('warning'), error: level('error'),
};
export default Logger;
