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

/** A storage call op refused. */
export declare class StorageError extends Error {
  readonly code: 'undeclared' | 'invalid' | 'too-large' | 'unavailable';
  readonly statusCode: number;
}

/** A condition on an index's range attribute. */
export type WhereCondition = readonly [string, ...unknown[]];

export declare const WhereConditions: {
  equalsTo(value: string | number | boolean): WhereCondition;
  isLessThan(value: string | number): WhereCondition;
  isLessThanEqualTo(value: string | number): WhereCondition;
  isGreaterThan(value: string | number): WhereCondition;
  isGreaterThanEqualTo(value: string | number): WhereCondition;
  between(low: string | number, high: string | number): WhereCondition;
  beginsWith(prefix: string): WhereCondition;
};

export declare const SortOrder: { readonly ASC: 'ASC'; readonly DESC: 'DESC' };

export interface Page<T = any> {
  data: Array<{ key: string; value: T }>;
  page_info: { has_more: boolean; end_cursor: string };
}

export interface EntityQuery<T = any> {
  /** Query an index: within the partition with these values, ordered by its range attribute. */
  index(name: string, options?: unknown[] | { partition?: unknown[]; condition?: WhereCondition }): EntityQuery<T>;
  where(condition: WhereCondition): EntityQuery<T>;
  sort(order: 'ASC' | 'DESC'): EntityQuery<T>;
  /** At most 200. */
  limit(n: number): EntityQuery<T>;
  cursor(c: string): EntityQuery<T>;
  getMany(): Promise<Page<T>>;
}

export interface Entity<T = any> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: Partial<T>): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** All or nothing; at most 1,000 items. */
  batchSet(items: Array<{ key: string; value: Partial<T> }>): Promise<void>;
  batchDelete(keys: string[]): Promise<void>;
  query(): EntityQuery<T>;
}

/** The form fields of an upload address. */
export type ObjectResultDataFields = Record<string, string>;

/** A signed address of one object, honoured for ten minutes. */
export interface ObjectStoreDownloadResult {
  /** For the plugin: a path relative to the ONES API base; OPFetch to it is answered by op. */
  getUrl(): string;
  /** For a browser: a path on the ONES site, served by op's gateway. */
  getWebUrl(): string;
  readonly url: string;
  readonly webUrl: string;
  /** Seconds since the Unix epoch. */
  readonly expiresAt: number;
}

/** An upload address: a multipart/form-data POST of getFields() and a `file` part (201), or a PUT of the bytes. */
export interface ObjectStoreUploadResult extends ObjectStoreDownloadResult {
  getFields(): ObjectResultDataFields;
  readonly fields: ObjectResultDataFields;
}

/** A stored object (op's `storage.object.get`). */
export interface StoredObject {
  contentType: string;
  body: Uint8Array;
  /** The body decoded as UTF-8. */
  text(): string;
}

/** Entity storage (the entities plugin.yaml declares under storage.entities) and object storage. */
export declare const storage: {
  entity<T = any>(name: string): Entity<T>;
  object: {
    upload(key: string): Promise<ObjectStoreUploadResult>;
    download(key: string): Promise<ObjectStoreDownloadResult>;
    /** op: stores the bytes directly (at most 10 MiB an object, 256 MiB an instance). */
    put(key: string, data: string | Uint8Array | ArrayBuffer, options?: { contentType?: string }): Promise<void>;
    /** op: the object under `key`, or undefined. */
    get(key: string): Promise<StoredObject | undefined>;
    /** op: deletes the object under `key`; whether there was one. */
    delete(key: string): Promise<boolean>;
  };
};

declare const _default: {
  env: typeof env;
  storage: typeof storage;
  WhereConditions: typeof WhereConditions;
  SortOrder: typeof SortOrder;
  StorageError: typeof StorageError;
};
export default _default;
