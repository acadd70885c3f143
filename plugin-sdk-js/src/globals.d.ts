// Globals op's JS runner gives every plugin.

/** The installation's environment (`globalThis.onesEnv`). */
interface OnesEnv {
  /** The team this instance serves ('' for an organization-level plugin). */
  teamUUID: string;
  organizationUUID: string;
  /** Same as `organizationUUID`. */
  orgUUID: string;
  instanceId: string;
  /** `service.config` values by key. */
  config: Record<string, string>;
  /** Each config value is also readable as its own key. */
  [key: string]: any;
}

// eslint-disable-next-line no-var
declare var onesEnv: OnesEnv;
