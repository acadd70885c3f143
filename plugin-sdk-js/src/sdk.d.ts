/// <reference path="./globals.d.ts" />

export declare const env: {
  getTeamID(): Promise<string>;
  getTeamUUID(): Promise<string>;
  getOrgID(): Promise<string>;
  getOrganizationID(): Promise<string>;
  getInstanceID(): Promise<string>;
  getConfig(): Promise<Record<string, string>>;
  getConfig(key: string): Promise<string | undefined>;
};

export interface EntityQuery {
  limit(n: number): EntityQuery;
  cursor(c: string): EntityQuery;
  getMany(): Promise<{ data: Array<{ key: string; value: any }>; page_info: { has_more: boolean; end_cursor: string } }>;
}

export interface Entity {
  get(key: string): Promise<any>;
  set(key: string, value: any): Promise<void>;
  delete(key: string): Promise<void>;
  batchSet(items: Array<{ key: string; value: any }>): Promise<void>;
  batchDelete(keys: string[]): Promise<void>;
  query(): EntityQuery;
}

/** Entity storage is not supported by op yet: `storage.entity(...)` and `storage.object.*` throw. */
export declare const storage: {
  entity(name: string): Entity;
  object: {
    upload(key: string, data?: any): Promise<any>;
    download(key: string): Promise<any>;
  };
};
