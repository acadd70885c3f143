// @ones-op/sdk, @ones-op/sdk/node, @ones-op/sdk/backend: env from onesEnv;
// storage is declared but not implemented by op yet.
import { onesEnv } from './internal/op.js';

export const env = {
  getTeamID: async () => onesEnv().teamUUID || '',
  getTeamUUID: async () => onesEnv().teamUUID || '',
  getOrgID: async () => onesEnv().organizationUUID || onesEnv().orgUUID || '',
  getOrganizationID: async () => onesEnv().organizationUUID || onesEnv().orgUUID || '',
  getInstanceID: async () => onesEnv().instanceId || '',
  getConfig: async (key) => {
    const config = onesEnv().config || {};
    return key === undefined ? Object.assign({}, config) : config[key];
  },
};

function notYet(name) {
  return function () {
    throw new Error(`${name}: entity storage is not supported by op yet`);
  };
}

export const storage = {
  entity: /* @__PURE__ */ notYet('storage.entity'),
  object: {
    upload: /* @__PURE__ */ notYet('storage.object.upload'),
    download: /* @__PURE__ */ notYet('storage.object.download'),
  },
};

export default { env, storage };
