// The in-memory entity storage of the test helper's mock host: the rules op
// applies (op-storage-rules in op's Rust sources), so that a plugin's unit
// tests see what op's databases answer, with the same messages.
//
// `entities` are plugin.yaml's storage.entities, as objects:
//   [{ name, attributes: [{ name, type, length, required, default }], indexes: [{ name, range_attribute, partition }] }]

const MAX_KEY_BYTES = 255;
const MAX_BATCH = 1000;
const MAX_LIMIT = 200;
const DEFAULT_LIMIT = 20;
const MAX_STRING_BYTES = 2048;
const MAX_TEXT_BYTES = 32768;

const bytes = (s) => Buffer.byteLength(s, 'utf8');

function refuse(tag, message) {
  // The runner's natives throw plain {tag, message} objects.
  return { tag, message };
}

function kindOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return 'a string';
  return 'an object';
}

function checkKey(key) {
  if (key === '') throw refuse('invalid', 'a key must not be empty');
  if (bytes(key) > MAX_KEY_BYTES) {
    throw refuse('too-large', `a key holds at most ${MAX_KEY_BYTES} bytes; this one has ${bytes(key)}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) throw refuse('invalid', 'a key must not contain control characters');
}

function checkBatch(n) {
  if (n > MAX_BATCH) throw refuse('too-large', `a batch writes at most ${MAX_BATCH} records; this one has ${n}`);
}

function fits(attr, v) {
  switch (attr.type) {
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 9e15;
    case 'float': return typeof v === 'number' && Number.isFinite(v);
    default: return typeof v === 'string';
  }
}

function lengthOf(attr) {
  if (attr.type === 'text') return Math.min(attr.length || MAX_TEXT_BYTES, MAX_TEXT_BYTES);
  return attr.type === 'string' ? attr.length : undefined;
}

function checkType(entity, attr, v) {
  if (!fits(attr, v)) {
    const article = attr.type === 'integer' ? 'an' : 'a';
    throw refuse('invalid', `\`${entity.name}.${attr.name}\` is ${article} ${attr.type}, not ${kindOf(v)}`);
  }
  const limit = lengthOf(attr);
  if (typeof v === 'string' && limit !== undefined && bytes(v) > limit) {
    throw refuse('too-large', `\`${entity.name}.${attr.name}\` holds at most ${limit} bytes; this value has ${bytes(v)}`);
  }
}

function merge(entity, key, existing, value) {
  checkKey(key);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw refuse('invalid', `the value of \`${entity.name}\` record \`${key}\` must be an object of attributes, not ${kindOf(value)}`);
  }
  const creating = existing === undefined;
  const record = Object.assign({}, existing);
  for (const [name, v] of Object.entries(value)) {
    const attr = entity.attributes.find((a) => a.name === name);
    if (!attr) {
      throw refuse('invalid', `entity \`${entity.name}\` has no attribute \`${name}\` (it declares: ${entity.attributes.map((a) => a.name).join(', ')})`);
    }
    if (v === null || v === undefined) {
      if (attr.required) throw refuse('invalid', `\`${entity.name}.${name}\` is required and cannot be null`);
      delete record[name];
      continue;
    }
    checkType(entity, attr, v);
    record[name] = v;
  }
  if (creating) {
    for (const attr of entity.attributes) {
      if (attr.name in record) continue;
      if (attr.default !== undefined && attr.default !== null) record[attr.name] = attr.default;
      else if (attr.required) throw refuse('invalid', `\`${entity.name}.${attr.name}\` is required: a new record must have it`);
    }
  }
  const strings = entity.attributes
    .filter((a) => a.type === 'string' && typeof record[a.name] === 'string')
    .reduce((n, a) => n + bytes(record[a.name]), 0);
  if (strings > MAX_STRING_BYTES) {
    throw refuse('too-large', `the string attributes of \`${entity.name}\` record \`${key}\` hold ${strings} bytes together; at most ${MAX_STRING_BYTES} are allowed`);
  }
  return record;
}

function withDefaults(entity, record) {
  const out = Object.assign({}, record);
  for (const attr of entity.attributes) {
    if (!(attr.name in out) && attr.default !== undefined && attr.default !== null) out[attr.name] = attr.default;
  }
  return out;
}

function compare(attr, a, b) {
  if (attr.type === 'string' || attr.type === 'text') {
    return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
  }
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function comparable(entity, attr, v) {
  const ok = attr.type === 'boolean' ? typeof v === 'boolean'
    : attr.type === 'integer' || attr.type === 'float' ? typeof v === 'number'
      : typeof v === 'string';
  if (!ok) throw refuse('invalid', `\`${entity.name}.${attr.name}\` is ${attr.type}: it cannot be compared with ${kindOf(v)}`);
}

function holds(attr, [op, a, b], v) {
  const c = (w) => compare(attr, v, w);
  switch (op) {
    case 'equal': return c(a) === 0;
    case 'lessThan': return c(a) < 0;
    case 'lessOrEqual': return c(a) <= 0;
    case 'greaterThan': return c(a) > 0;
    case 'greaterOrEqual': return c(a) >= 0;
    case 'between': return c(a) >= 0 && c(b) <= 0;
    case 'beginsWith': return typeof v === 'string' && v.startsWith(a);
    default: throw refuse('invalid', `\`${op}\` is not a query condition`);
  }
}

/** A store of `entities`' records, behind the runner's storage natives. */
export function memoryStorage(entities = []) {
  const records = new Map();
  const find = (name) => {
    const entity = entities.find((e) => e.name === name);
    if (!entity) {
      const names = entities.map((e) => e.name);
      throw refuse('undeclared', `no entity \`${name}\` is declared in plugin.yaml's storage.entities (${names.length ? `it declares: ${names.join(', ')}` : 'it declares none'})`);
    }
    if (!records.has(name)) records.set(name, new Map());
    return entity;
  };
  const natives = {
    get(name, key) {
      const entity = find(name);
      checkKey(key);
      const record = records.get(name).get(key);
      return record === undefined ? undefined : JSON.stringify(withDefaults(entity, record));
    },
    set(name, key, value) {
      natives.batchSet(name, [[key, value]]);
    },
    delete(name, key) {
      find(name);
      checkKey(key);
      return records.get(name).delete(key);
    },
    batchSet(name, entries) {
      checkBatch(entries.length);
      const entity = find(name);
      const staged = new Map(records.get(name));
      for (const [key, text] of entries) staged.set(key, merge(entity, key, staged.get(key), JSON.parse(text)));
      records.set(name, staged);
    },
    batchDelete(name, keys) {
      checkBatch(keys.length);
      find(name);
      keys.forEach(checkKey);
      for (const key of keys) records.get(name).delete(key);
    },
    query(name, q) {
      const entity = find(name);
      const limit = Math.min(Math.max(q.limit ?? DEFAULT_LIMIT, 1), MAX_LIMIT);
      const descending = !!q.descending;
      const partition = (q.partition || []).map((t) => JSON.parse(t));
      const condition = q.condition && [q.condition[0], ...q.condition.slice(1).map((t) => JSON.parse(t))];
      let index;
      let range;
      const parts = [];
      if (q.index === undefined || q.index === null) {
        if (partition.length || condition) throw refuse('invalid', `a query of \`${name}\` with partition values or a condition must name an index`);
      } else {
        index = (entity.indexes || []).find((i) => i.name === q.index);
        if (!index) {
          const names = (entity.indexes || []).map((i) => i.name);
          throw refuse('undeclared', `entity \`${name}\` has no index \`${q.index}\` (${names.length ? `it declares: ${names.join(', ')}` : 'it declares none'})`);
        }
        const declared = index.partition || [];
        if (partition.length !== declared.length) {
          throw refuse('invalid', `index \`${index.name}\` of \`${name}\` is partitioned by [${declared.join(', ')}]: a query gives ${declared.length} partition value${declared.length === 1 ? '' : 's'}, not ${partition.length}`);
        }
        declared.forEach((a, i) => {
          const attr = entity.attributes.find((x) => x.name === a);
          comparable(entity, attr, partition[i]);
          parts.push([attr, partition[i]]);
        });
        range = entity.attributes.find((x) => x.name === index.range_attribute);
        if (condition) {
          condition.slice(1).forEach((v) => comparable(entity, range, v));
          if (condition[0] === 'beginsWith' && range.type !== 'string') {
            throw refuse('invalid', `\`beginsWith\` applies to string attributes; \`${name}.${range.name}\` is ${range.type}`);
          }
        }
      }
      let after;
      if (q.cursor) {
        try {
          after = JSON.parse(Buffer.from(q.cursor, 'hex').toString('utf8'));
        } catch {
          after = undefined;
        }
        if (!after || (after.i ?? null) !== (q.index ?? null) || !!after.d !== descending) {
          throw refuse('invalid', `the cursor does not belong to this query of \`${name}\` (give the \`end_cursor\` of the previous page of the same query)`);
        }
      }
      const order = (ka, ra, kb, vb) => {
        let c = range ? compare(range, ra[range.name], vb) : 0;
        if (c === 0) c = Buffer.compare(Buffer.from(ka), Buffer.from(kb));
        return descending ? -c : c;
      };
      const rows = [...records.get(name)].filter(([key, r]) => {
        if (!parts.every(([attr, v]) => r[attr.name] !== undefined && compare(attr, r[attr.name], v) === 0)) return false;
        if (range) {
          if (r[range.name] === undefined) return false;
          if (condition && !holds(range, condition, r[range.name])) return false;
        }
        return !after || order(key, r, after.k, after.v) > 0;
      });
      rows.sort(([ka, ra], [kb, rb]) => order(ka, ra, kb, range ? rb[range.name] : undefined));
      const hasMore = rows.length > limit;
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const endCursor = hasMore && last
        ? Buffer.from(JSON.stringify({ i: q.index ?? null, d: descending, v: range ? last[1][range.name] : null, k: last[0] })).toString('hex')
        : undefined;
      return {
        entries: page.map(([key, r]) => [key, JSON.stringify(withDefaults(entity, r))]),
        hasMore,
        endCursor,
      };
    },
  };
  return natives;
}

const MAX_OBJECT_BYTES = 10 * 1024 * 1024;
const MAX_INSTANCE_BYTES = 256 * 1024 * 1024;
const URL_LIFETIME_SECS = 600;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The object storage of the mock host, behind the runner's objects
 * natives, under op's limits. Its addresses have op's shape; their token
 * only names what they grant. */
export function memoryObjects() {
  const objects = new Map();
  const address = (access, key) => {
    checkKey(key);
    const token = Buffer.from(`mock-${access}-${key}`).toString('hex');
    return {
      url: `/op/objects/${token}`,
      webUrl: `/project/api/project/op/objects/${token}`,
      fields: access === 'put' ? [['key', key]] : [],
      expiresAt: Math.floor(Date.now() / 1000) + URL_LIFETIME_SECS,
    };
  };
  return {
    upload: (key) => address('put', key),
    download: (key) => address('get', key),
    put(key, contentType, body) {
      checkKey(key);
      const type = String(contentType).trim() || DEFAULT_CONTENT_TYPE;
      if (bytes(type) > 255) throw refuse('too-large', `a content type holds at most 255 bytes; this one has ${bytes(type)}`);
      // eslint-disable-next-line no-control-regex
      if (/[^\u0020-\u007e]/.test(type)) throw refuse('invalid', 'a content type holds printable ASCII only');
      const data = body instanceof ArrayBuffer ? new Uint8Array(body) : body;
      if (data.byteLength > MAX_OBJECT_BYTES) {
        throw refuse('too-large', `an object holds at most ${MAX_OBJECT_BYTES} bytes; this one has ${data.byteLength}`);
      }
      let others = 0;
      for (const [k, o] of objects) if (k !== key) others += o.body.byteLength;
      if (others + data.byteLength > MAX_INSTANCE_BYTES) {
        throw refuse('too-large', `the objects of one plugin instance hold at most ${MAX_INSTANCE_BYTES} bytes together; storing this one would make ${others + data.byteLength}`);
      }
      objects.set(key, { contentType: type, body: new Uint8Array(data) });
    },
    get(key) {
      checkKey(key);
      const found = objects.get(key);
      return found ? { contentType: found.contentType, body: new Uint8Array(found.body) } : undefined;
    },
    delete(key) {
      checkKey(key);
      return objects.delete(key);
    },
  };
}
