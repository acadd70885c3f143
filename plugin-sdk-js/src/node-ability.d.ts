/// <reference path="./globals.d.ts" />

export interface PluginConfigItem {
  arg_key: string;
  arg_value: string;
}

/** Who the plugin is in op: its installation. */
export interface PluginUser {
  teamUUID: string;
  organizationUUID: string;
  instanceId: string;
  /** Not given by op today (null): ONES calls as the super-admin go through OPFetch with root: true. */
  userUUID: string | null;
}

export declare const Plugin: {
  /** The instance's `service.config` values (the argument is accepted and ignored: an instance serves one installation). */
  getPluginConfig(teamUUID?: string): Promise<PluginConfigItem[]>;
  getPluginUser(teamUUID?: string): Promise<PluginUser>;
  /** Not supported by op: throws. */
  getPluginInfo(...args: any[]): never;
};

/** Not supported by op: throws. */
export declare function Notify(message: {
  Title?: string;
  ToUsers?: string[];
  NotifyWay?: any;
  MessageBody?: Array<{ Body?: string; Url?: string }>;
  [key: string]: any;
}): never;

export declare const NotifyWay: Record<string, string>;

/** Not supported by op: each throws. */
export declare const Process: {
  create(...args: any[]): never;
  update(...args: any[]): never;
  done(...args: any[]): never;
};
