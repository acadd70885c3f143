// @ones-op/sdk, @ones-op/sdk/node, @ones-op/sdk/backend: `env` from onesEnv,
// and `storage`, the entity storage of the entities plugin.yaml declares
// under storage.entities (kept by op for this plugin instance only).
import { onesEnv, op } from './internal/op.js';

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

/** A storage call op refused: `code` is `undeclared`, `invalid`, `too-large` or `unavailable`. */
export class StorageError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'StorageError';
    this.code = code;
    // Thrown out of a plugin function, it answers as a plugin error.
    this.statusCode = code === 'unavailable' ? 503 : 500;
    this.model = 'plugin.storage';
  }
}

function natives() {
  return op().storage;
}

function run(fn) {
  try {
    return fn();
  } catch (err) {
    if (err && typeof err === 'object' && typeof err.tag === 'string' && !(err instanceof Error)) {
      throw new StorageError(err.tag, err.message);
    }
    throw err;
  }
}

function keyOf(key, what = 'a key') {
  if (typeof key !== 'string') {
    throw new StorageError('invalid', `${what} must be a string, not ${key === null ? 'null' : typeof key}`);
  }
  return key;
}

function json(value) {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new StorageError('invalid', 'a value must be an object of attributes, not undefined');
  }
  return text;
}

/** Conditions on an index's range attribute (the names Forge and ONES use). */
export const WhereConditions = {
  equalsTo: (value) => ['equal', value],
  isLessThan: (value) => ['lessThan', value],
  isLessThanEqualTo: (value) => ['lessOrEqual', value],
  isGreaterThan: (value) => ['greaterThan', value],
  isGreaterThanEqualTo: (value) => ['greaterOrEqual', value],
  between: (low, high) => ['between', low, high],
  beginsWith: (prefix) => ['beginsWith', prefix],
};

export const SortOrder = { ASC: 'ASC', DESC: 'DESC' };

class EntityQuery {
  constructor(entity) {
    this._entity = entity;
    this._q = { partition: [] };
  }
  /** `index(name)`, `index(name, [values])` or `index(name, {partition, condition})`. */
  index(name, options) {
    this._q.index = keyOf(name, 'an index name');
    const partition = Array.isArray(options) ? options : options && options.partition;
    this._q.partition = (partition || []).map((v) => json(v));
    if (options && !Array.isArray(options) && options.condition) {
      this.where(options.condition);
    }
    return this;
  }
  where(condition) {
    if (!Array.isArray(condition) || typeof condition[0] !== 'string') {
      throw new StorageError('invalid', 'where() takes a condition of WhereConditions, e.g. WhereConditions.isGreaterThan(30)');
    }
    const [name, ...values] = condition;
    this._q.condition = [name, ...values.map((v) => json(v))];
    return this;
  }
  sort(order) {
    this._q.descending = String(order).toUpperCase() === 'DESC';
    return this;
  }
  limit(n) {
    this._q.limit = Number(n);
    return this;
  }
  /** Continues after the page whose `page_info.end_cursor` this is. */
  cursor(c) {
    if (c) this._q.cursor = String(c);
    return this;
  }
  async getMany() {
    const page = run(() => natives().query(this._entity, this._q));
    return {
      data: page.entries.map(([key, value]) => ({ key, value: JSON.parse(value) })),
      page_info: { has_more: page.hasMore, end_cursor: page.endCursor || '' },
    };
  }
}

class Entity {
  constructor(name) {
    this._name = name;
  }
  /** The value under `key`, or `undefined`. */
  async get(key) {
    const text = run(() => natives().get(this._name, keyOf(key)));
    return text === undefined || text === null ? undefined : JSON.parse(text);
  }
  async set(key, value) {
    run(() => natives().set(this._name, keyOf(key), json(value)));
  }
  async delete(key) {
    return run(() => natives().delete(this._name, keyOf(key)));
  }
  async batchSet(items) {
    if (!Array.isArray(items)) {
      throw new StorageError('invalid', 'batchSet takes a list of {key, value}');
    }
    const entries = items.map((item) => [keyOf(item && item.key), json(item.value)]);
    run(() => natives().batchSet(this._name, entries));
  }
  async batchDelete(keys) {
    if (!Array.isArray(keys)) {
      throw new StorageError('invalid', 'batchDelete takes a list of keys');
    }
    run(() => natives().batchDelete(this._name, keys.map((k) => keyOf(k))));
  }
  query() {
    return new EntityQuery(this._name);
  }
}

/** A signed address of one object (ONES's ObjectStoreUploadResult and
 * ObjectStoreDownloadResult), honoured for ten minutes. */
class ObjectStoreResult {
  constructor(signed) {
    /** For the plugin: a path relative to the ONES API base; OPFetch to it is answered by op. */
    this.url = signed.url;
    /** For a browser: a path on the ONES site, served by op's gateway. */
    this.webUrl = signed.webUrl;
    /** Form fields an upload sends unchanged beside the `file` part. */
    this.fields = Object.fromEntries(signed.fields);
    /** When it stops being honoured, in seconds since the Unix epoch. */
    this.expiresAt = signed.expiresAt;
  }
  getUrl() {
    return this.url;
  }
  getWebUrl() {
    return this.webUrl;
  }
  getFields() {
    return Object.assign({}, this.fields);
  }
}

function objectNatives() {
  return op().objects;
}

function objectBytes(data) {
  if (typeof data === 'string') return op().utf8Encode(data);
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new StorageError('invalid', `an object's data is a string, a Uint8Array, a Buffer or an ArrayBuffer, not ${data === null ? 'null' : typeof data}`);
}

export const storage = {
  entity: (name) => new Entity(keyOf(name, 'an entity name')),
  object: {
    /** An address that takes one upload under `key`: a multipart/form-data
     * POST of getFields() and a `file` part (answered 201), or a PUT of the bytes. */
    async upload(key) {
      return new ObjectStoreResult(run(() => objectNatives().upload(keyOf(key))));
    },
    /** An address that answers the object under `key` (404 when there is none). */
    async download(key) {
      return new ObjectStoreResult(run(() => objectNatives().download(keyOf(key))));
    },
    /** op: stores `data` under `key` (options.contentType, default
     * application/octet-stream), replacing what was there. */
    async put(key, data, options = {}) {
      const type = (options && options.contentType) || '';
      run(() => objectNatives().put(keyOf(key), String(type), objectBytes(data)));
    },
    /** op: the object under `key` as {contentType, body: Uint8Array,
     * text()}, or undefined. */
    async get(key) {
      const found = run(() => objectNatives().get(keyOf(key)));
      if (!found) return undefined;
      const body = found.body;
      return { contentType: found.contentType, body, text: () => op().utf8Decode(body, false) };
    },
    /** op: deletes the object under `key`; whether there was one. */
    async delete(key) {
      return run(() => objectNatives().delete(keyOf(key)));
    },
  },
};

export default { env, storage, WhereConditions, SortOrder, StorageError };
