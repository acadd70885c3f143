// @ones-op/node-ability: the plugin's configuration and identity from
// onesEnv; the ONES abilities op does not run exist and throw when called.
import { onesEnv, unsupported } from './internal/op.js';

async function getPluginConfig(_teamUUID) {
  const config = onesEnv().config || {};
  return Object.keys(config).map((arg_key) => ({ arg_key, arg_value: config[arg_key] }));
}

async function getPluginUser(_teamUUID) {
  const env = onesEnv();
  return {
    teamUUID: env.teamUUID || '',
    organizationUUID: env.organizationUUID || env.orgUUID || '',
    instanceId: env.instanceId || '',
    userUUID: env.userUUID || null,
  };
}

export const Plugin = {
  getPluginConfig,
  getPluginUser,
  getPluginInfo: /* @__PURE__ */ unsupported('Plugin.getPluginInfo'),
};

export const Notify = /* @__PURE__ */ unsupported('Notify');

// Names of notification ways: any member reads as its own name, so building
// a Notify argument works and the call to Notify is what reports.
export const NotifyWay = /* @__PURE__ */ new Proxy({}, {
  get: (_t, k) => (typeof k === 'string' ? k : undefined),
});

export const Process = {
  create: /* @__PURE__ */ unsupported('Process.create'),
  update: /* @__PURE__ */ unsupported('Process.update'),
  done: /* @__PURE__ */ unsupported('Process.done'),
};

export default { Plugin, Notify, NotifyWay, Process };
