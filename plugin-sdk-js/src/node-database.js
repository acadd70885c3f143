// @ones-op/node-database: op has no SQL database for plugins; the names exist
// so imports resolve, and each throws when called.
import { unsupported } from './internal/op.js';

export const importSQL = /* @__PURE__ */ unsupported('importSQL', 'is not supported by op (no @ones-op/node-database)');
export const select = /* @__PURE__ */ unsupported('select', 'is not supported by op (no @ones-op/node-database)');
export const exec = /* @__PURE__ */ unsupported('exec', 'is not supported by op (no @ones-op/node-database)');
export const count = /* @__PURE__ */ unsupported('count', 'is not supported by op (no @ones-op/node-database)');
export default { importSQL, select, exec, count };
