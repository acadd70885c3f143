/// <reference path="./globals.d.ts" />

type LogFn = (...args: any[]) => void;

/** The host's log; the first argument may hold printf-style `%s %d %i %f %j %o %O`. */
export declare const Logger: {
  debug: LogFn;
  info: LogFn;
  log: LogFn;
  warn: LogFn;
  warning: LogFn;
  error: LogFn;
};
export default Logger;
