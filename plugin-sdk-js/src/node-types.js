// @ones-op/node-types holds types only. These exports exist so that a
// non-type import of the type names (seen in real plugins) still resolves.
export const PluginRequest = undefined;
export const PluginResponse = undefined;
export default {};
