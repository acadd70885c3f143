// The SDK's modules under a mock `__op`: every call form and result shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mockOp } from '../testing.mjs';
import { OPFetch, Fetch, FetchAsAdmin, getOpenApiToken, isFetchError, FetchError } from '../src/fetch.js';
import { Logger } from '../src/node-logger.js';
import * as types from '../src/node-types.js';
import { Plugin, Notify, NotifyWay, Process } from '../src/node-ability.js';
import { fetchONES, fetchHttp } from '../src/node-fetch.js';
import { env, storage, WhereConditions, SortOrder, StorageError } from '../src/sdk.js';
import * as database from '../src/node-database.js';
import { Buffer } from '../src/node/buffer.js';
import EventEmitter from '../src/node/events.js';
import * as url from '../src/node/url.js';
import * as util from '../src/node/util.js';
import * as crypto from '../src/node/crypto.js';
import http from '../src/node/http.js';
import * as https from '../src/node/https.js';
import { TextEncoder, TextDecoder } from '../src/internal/text.js';

const entities = [
  {
    name: 'employee',
    attributes: [
      { name: 'dept', type: 'string', length: 16, required: true },
      { name: 'name', type: 'string', length: 8 },
      { name: 'age', type: 'integer', default: 30 },
      { name: 'active', type: 'boolean' },
    ],
    indexes: [{ name: 'by_age', range_attribute: 'age', partition: ['dept'] }, { name: 'by_name', range_attribute: 'name' }],
  },
];
const op = mockOp({ env: { teamUUID: 'T1', organizationUUID: 'O1', instanceId: 'I1', config: { apiKey: 'k', region: 'eu' } }, entities });
const fresh = () => op.reset();
const last = () => op.fetches[op.fetches.length - 1];

test('OPFetch(config): method, path, headers (string and string[]), query, JSON body, root, teamUUID, timeout', async () => {
  fresh().on('POST', '/team/T1/items/view', { body: { items: [1] } });
  const r = await OPFetch({
    path: '/team/T1/items/view', method: 'post', headers: { 'Ones-User-Id': 'U1', 'X-Many': ['a', 'b'], Skip: undefined },
    params: { a: 1, list: ['x', 'y'], none: null }, body: { q: 1 }, teamUUID: 'T2', timeout: 500,
  });
  const s = last();
  assert.equal(s.method, 'POST');
  assert.equal(s.url, '/team/T1/items/view');
  assert.deepEqual(s.headers, [['ones-user-id', 'U1'], ['x-many', 'a'], ['x-many', 'b'], ['content-type', 'application/json']]);
  assert.deepEqual(s.query, [['a', '1'], ['list', 'x'], ['list', 'y']]);
  assert.deepEqual(s.json(), { q: 1 });
  assert.equal(s.root, true);
  assert.equal(s.teamUUID, 'T2');
  assert.equal(s.timeout, 500);
  // both readings of the answer
  assert.equal(r.statusCode, 200);
  assert.equal(r.status, 200);
  assert.equal(r.statusText, 'OK');
  assert.deepEqual(r.body, { items: [1] });
  assert.equal(r.data, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
});

test("OPFetch(path, config), OPFetch(path), url key, query key, data key, root: false, teamUUID: ''", async () => {
  fresh();
  await OPFetch('/a', { method: 'PUT', data: 'text body', query: { q: 'v' }, root: false, teamUUID: '' }).catch(() => {});
  assert.equal(last().url, '/a');
  assert.equal(last().method, 'PUT');
  assert.equal(last().text, 'text body');
  assert.deepEqual(last().query, [['q', 'v']]);
  assert.equal(last().root, false);
  assert.equal('teamUUID' in last(), false);
  await OPFetch('/b').catch(() => {});
  assert.equal(last().url, '/b');
  assert.equal(last().method, 'GET');
  assert.equal(last().text, '');
  await OPFetch({ url: '/c', method: 'DELETE' }).catch(() => {});
  assert.equal(last().url, '/c');
});

test('OPFetch.get/post/put/delete/patch and create(defaults)', async () => {
  fresh().on('*', '*', { body: { ok: true } });
  await OPFetch.get('/g', { params: { x: 1 } });
  assert.deepEqual([last().method, last().url, last().query], ['GET', '/g', [['x', '1']]]);
  await OPFetch.post('/p', { a: 1 });
  assert.deepEqual([last().method, last().json()], ['POST', { a: 1 }]);
  await OPFetch.put('/u', { b: 2 }, { headers: { h: 'v' } });
  assert.deepEqual([last().method, last().header('h')], ['PUT', 'v']);
  await OPFetch.patch('/pa', 'x');
  assert.equal(last().method, 'PATCH');
  await OPFetch.delete('/d');
  assert.equal(last().method, 'DELETE');
  const api = OPFetch.create({ headers: { 'X-Default': '1' }, root: false, baseURL: '/team/T1' });
  await api.get('tasks', { headers: { 'X-Call': '2' } });
  assert.equal(last().url, '/team/T1/tasks');
  assert.equal(last().root, false);
  assert.equal(last().header('x-default'), '1');
  assert.equal(last().header('x-call'), '2');
  const nested = api.create({ timeout: 9 });
  await nested.post('/abs', {});
  assert.equal(last().timeout, 9);
  assert.equal(last().url, '/team/T1/abs');
});

test('responseType: arraybuffer gives bytes, text a string, default JSON when it parses', async () => {
  fresh().on('GET', '/bin', { body: new Uint8Array([1, 2, 255]), headers: { 'content-type': 'application/octet-stream' } })
    .on('GET', '/json', { body: '{"a":1}' }).on('GET', '/plain', { body: 'not json' });
  const bin = await OPFetch('/bin', { responseType: 'arraybuffer' });
  assert.ok(bin.data instanceof Uint8Array);
  assert.deepEqual([...bin.body], [1, 2, 255]);
  assert.equal((await OPFetch('/json', { responseType: 'text' })).data, '{"a":1}');
  assert.deepEqual((await OPFetch('/json')).data, { a: 1 });
  assert.equal((await OPFetch('/plain')).data, 'not json');
});

test('bodies: bytes, URLSearchParams, none', async () => {
  fresh();
  await OPFetch.post('/b', new Uint8Array([9, 8])).catch(() => {});
  assert.deepEqual([...last().body], [9, 8]);
  await OPFetch.post('/f', new url.URLSearchParams({ a: '1', b: 'x y' })).catch(() => {});
  assert.equal(last().text, 'a=1&b=x+y');
  assert.match(last().header('content-type'), /x-www-form-urlencoded/);
});

test('non-2xx rejects with a FetchError carrying the answer', async () => {
  fresh().on('GET', '/nope', { status: 403, body: { code: 403, reason: 'forbidden' }, headers: { 'x-a': '1' } });
  const err = await OPFetch('/nope').then(() => null, (e) => e);
  assert.ok(err instanceof FetchError);
  assert.ok(err instanceof Error);
  assert.equal(isFetchError(err), true);
  assert.equal(err.isFetchError, true);
  assert.equal(err.status, 403);
  assert.equal(err.message, 'Request failed with status code 403');
  assert.equal(err.code, 'ERR_BAD_REQUEST');
  assert.equal(err.response.status, 403);
  assert.deepEqual(err.response.data, { code: 403, reason: 'forbidden' });
  assert.equal(err.response.headers['x-a'], '1');
  fresh().on('GET', '/boom', { status: 502 });
  assert.equal((await OPFetch('/boom').catch((e) => e)).code, 'ERR_BAD_RESPONSE');
  assert.equal((await OPFetch('/nope', { validateStatus: null })).status, 403);
  assert.equal(isFetchError(new Error('x')), false);
  assert.equal(isFetchError(null), false);
});

test('a transport failure rejects with a FetchError whose code is the tag', async () => {
  for (const tag of ['not-allowed', 'timeout', 'no-team', 'connection-failed']) {
    fresh().on('GET', '/t', { error: { tag, message: 'said the host' } });
    const err = await OPFetch('/t').catch((e) => e);
    assert.equal(isFetchError(err), true);
    assert.equal(err.code, tag);
    assert.equal(err.status, undefined);
    assert.equal(err.response, undefined);
    assert.equal(err.message, `${tag}: said the host`);
  }
});

test('Fetch: absolute URLs only, never as the super-admin', async () => {
  fresh().on('POST', 'https://hooks.example.com/x', { body: 'ok' });
  const r = await Fetch('https://hooks.example.com/x', { method: 'POST', params: { a: 'b' }, headers: { Authorization: 'Bearer T' }, timeout: 100 });
  assert.equal(r.data, 'ok');
  assert.equal(last().root, false);
  assert.equal(last().header('authorization'), 'Bearer T');
  const err = await Fetch('/relative').catch((e) => e);
  assert.equal(err.code, 'invalid-request');
});

test('FetchAsAdmin and getOpenApiToken: the token stand-in, root true', async () => {
  assert.equal(await getOpenApiToken({ teamID: 'T7' }), 'op-openapi-token:T7');
  assert.equal(await getOpenApiToken(), 'op-openapi-token:T1');
  fresh().on('POST', '/openapi/v2/project/projects', { body: { data: { uuid: 'P' } } });
  const res = await FetchAsAdmin('/openapi/v2/project/projects', { method: 'POST', params: { teamID: 'T7' }, data: { name: 'n' } });
  assert.deepEqual(res.data, { data: { uuid: 'P' } });
  assert.equal(res.status, 200);
  const s = last();
  assert.equal(s.header('authorization'), 'Bearer op-openapi-token:T7');
  assert.equal(s.root, true);
  assert.equal(s.teamUUID, 'T7');
  assert.deepEqual(s.query, [['teamID', 'T7']]);
  assert.deepEqual(s.json(), { name: 'n' });
});

test('@ones-op/node-fetch: never rejects; error set on transport failure', async () => {
  fresh().on('GET', '/j', { status: 404, body: { code: 404 } }).on('GET', '/bin', { body: new Uint8Array([0xff, 0]) })
    .on('GET', '/fail', { error: { tag: 'timeout', message: 'slow' } }).on('GET', 'http://x.test/', { body: 'hi', headers: { 'content-type': 'text/plain' } });
  const a = await fetchONES({ path: '/j', method: 'GET', root: false, headers: { h: ['1'] } });
  assert.deepEqual(a, { statusCode: 404, body: { code: 404 }, headers: { 'content-type': 'application/json' }, error: undefined });
  assert.equal(last().root, false);
  assert.equal(last().header('h'), '1');
  const b = await fetchONES({ path: '/bin' });
  assert.ok(b.body instanceof Uint8Array);
  const c = await fetchONES({ path: '/fail' });
  assert.equal(c.statusCode, 0);
  assert.equal(c.error.code, 'timeout');
  const d = await fetchHttp({ url: 'http://x.test/' });
  assert.equal(d.body, 'hi');
  assert.equal(last().root, false);
});

test('Logger: levels and printf-style %s %d %j %o; plain objects as JSON', () => {
  fresh();
  Logger.info('[Plugin] body', { a: 1, b: 'x' });
  Logger.warn('%s has %d items, %j, %o', 'list', 3, { j: 1 }, [1, 'two']);
  Logger.warning('w');
  Logger.error(new Error('bad'));
  Logger.debug('100%% done');
  assert.deepEqual(op.logs.map((l) => l.level), ['info', 'warning', 'warning', 'error', 'debug']);
  assert.equal(op.logs[0].message, '[Plugin] body {"a":1,"b":"x"}');
  assert.equal(op.logs[1].message, `list has 3 items, {"j":1}, [ 1, 'two' ]`);
  assert.match(op.logs[3].message, /Error: bad/);
  assert.equal(op.logs[4].message, '100% done');
});

test('Logger: a runner that prints natively gets the arguments; one that declines gets format()', () => {
  fresh();
  const printed = [];
  let accept = true;
  globalThis.__op.print = (level, args) => {
    printed.push([level, args]);
    return accept;
  };
  try {
    Logger.info('[Plugin] body', { a: 1 });
    assert.deepEqual(printed, [['info', ['[Plugin] body', { a: 1 }]]]);
    assert.equal(op.logs.length, 0);
    accept = false;
    Logger.error('%s!', 'x');
    assert.deepEqual(op.logs, [{ level: 'error', message: 'x!' }]);
  } finally {
    delete globalThis.__op.print;
  }
});

test('node-types: a non-type import of the names resolves', () => {
  assert.ok('PluginRequest' in types && 'PluginResponse' in types);
});

test('node-ability: config and identity from onesEnv; the rest throws naming itself', async () => {
  assert.deepEqual(await Plugin.getPluginConfig('T1'), [{ arg_key: 'apiKey', arg_value: 'k' }, { arg_key: 'region', arg_value: 'eu' }]);
  assert.deepEqual(await Plugin.getPluginUser(), { teamUUID: 'T1', organizationUUID: 'O1', instanceId: 'I1', userUUID: null });
  assert.throws(() => Notify({ Title: 't', NotifyWay: NotifyWay.Email }), /^Error: Notify is not supported by op$/);
  assert.equal(NotifyWay.Email, 'Email');
  for (const m of ['create', 'update', 'done']) assert.throws(() => Process[m]({}), new RegExp(`Process.${m} is not supported by op`));
  assert.throws(() => database.select('select 1'), /select is not supported by op/);
});

test('sdk: env from onesEnv', async () => {
  assert.equal(await env.getTeamID(), 'T1');
  assert.equal(await env.getOrgID(), 'O1');
  assert.equal(await env.getInstanceID(), 'I1');
  assert.equal(await env.getConfig('apiKey'), 'k');
});

test('sdk storage.object: ONES-shaped addresses, and put/get/delete under the limits of op, in the mock', async () => {
  const up = await storage.object.upload('cover');
  assert.match(up.getUrl(), /^\/op\/objects\/[0-9a-f]+$/);
  assert.match(up.getWebUrl(), /^\/project\/api\/project\/op\/objects\/[0-9a-f]+$/);
  assert.deepEqual(up.getFields(), { key: 'cover' });
  assert.ok(up.expiresAt > Date.now() / 1000);
  const down = await storage.object.download('cover');
  assert.ok(down.getWebUrl() !== up.getWebUrl());
  await storage.object.put('note.txt', 'héllo', { contentType: 'text/plain' });
  const got = await storage.object.get('note.txt');
  assert.equal(got.contentType, 'text/plain');
  assert.equal(got.text(), 'héllo');
  assert.ok(got.body instanceof Uint8Array);
  await storage.object.put('raw', new Uint8Array([1, 2, 3]));
  assert.equal((await storage.object.get('raw')).contentType, 'application/octet-stream');
  assert.equal(await storage.object.delete('raw'), true);
  assert.equal(await storage.object.get('raw'), undefined);
  await assert.rejects(storage.object.put('big', new Uint8Array(10 * 1024 * 1024 + 1)), (e) => e instanceof StorageError && e.code === 'too-large' && /at most 10485760 bytes/.test(e.message));
  await storage.object.put('edge', new Uint8Array(10 * 1024 * 1024));
  await assert.rejects(storage.object.upload(''), (e) => e.code === 'invalid');
  await assert.rejects(storage.object.put('k', 42), /a string, a Uint8Array/);
});

test('sdk storage: the rules of op, in the mock', async () => {
  const employees = storage.entity('employee');
  await employees.set('e1', { dept: 'eng', name: 'Ann' });
  assert.deepEqual(await employees.get('e1'), { dept: 'eng', name: 'Ann', age: 30 });
  assert.equal(await employees.get('nobody'), undefined);
  await employees.set('e1', { age: 41 });
  assert.deepEqual(await employees.get('e1'), { dept: 'eng', name: 'Ann', age: 41 });
  const refused = async (p, code, text) => {
    await assert.rejects(p, (e) => e instanceof StorageError && e.code === code && e.message.includes(text) && e.statusCode === 500);
  };
  await refused(employees.set('e2', { name: 'Bob' }), 'invalid', '`employee.dept` is required: a new record must have it');
  await refused(employees.set('e1', { name: 'x'.repeat(9) }), 'too-large', '`employee.name` holds at most 8 bytes; this value has 9');
  await refused(employees.set('e1', { age: 'old' }), 'invalid', '`employee.age` is an integer, not a string');
  await refused(employees.set('e1', { salary: 1 }), 'invalid', 'entity `employee` has no attribute `salary`');
  await refused(storage.entity('robot').get('r'), 'undeclared', 'no entity `robot` is declared');
  await refused(employees.batchSet([{ key: 'ok', value: { dept: 'eng' } }, { key: 'bad', value: { dept: 1 } }]), 'invalid', '`employee.dept` is a string');
  assert.equal(await employees.get('ok'), undefined, 'a refused batch writes nothing');
  await refused(employees.query().index('by_salary').getMany(), 'undeclared', 'entity `employee` has no index `by_salary`');

  const items = [];
  for (let i = 0; i < 45; i++) items.push({ key: `k${String(i).padStart(2, '0')}`, value: { dept: i % 2 ? 'ops' : 'eng', age: i % 10, name: `n${i}` } });
  await employees.batchSet(items);
  const keys = [];
  const q = employees.query().index('by_age', { partition: ['eng'] }).where(WhereConditions.between(2, 6)).sort(SortOrder.DESC).limit(4);
  for (;;) {
    const page = await q.getMany();
    keys.push(...page.data.map((d) => d.key));
    if (!page.page_info.has_more) break;
    q.cursor(page.page_info.end_cursor);
  }
  const want = items.filter((it) => it.value.dept === 'eng' && it.value.age >= 2 && it.value.age <= 6)
    .sort((a, b) => b.value.age - a.value.age || (a.key < b.key ? 1 : -1)).map((it) => it.key);
  assert.deepEqual(keys, want);
  const byName = await employees.query().index('by_name').where(WhereConditions.beginsWith('n1')).limit(200).getMany();
  assert.deepEqual(byName.data.map((d) => d.value.name), ['n1', 'n10', 'n11', 'n12', 'n13', 'n14', 'n15', 'n16', 'n17', 'n18', 'n19']);
  assert.equal(byName.page_info.has_more, false);
  assert.equal(byName.page_info.end_cursor, '');
  assert.equal(await employees.delete('e1'), true);
  await employees.batchDelete(['k00', 'k01']);
  assert.equal(await employees.get('k00'), undefined);
});

test('buffer, events', () => {
  const b = Buffer.from('héllo');
  assert.equal(b.toString('base64'), 'aMOpbGxv');
  assert.equal(Buffer.byteLength('héllo'), 6);
  assert.equal(Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(), 'ab');
  const e = new EventEmitter();
  let got;
  e.on('x', (v) => { got = v; });
  e.emit('x', 5);
  assert.equal(got, 5);
});

test('url: URL, URLSearchParams, parse, format, resolve', () => {
  const u = new url.URL('https://user:pw@example.com:8080/a/b?x=1&y=2#h');
  assert.equal(u.hostname, 'example.com');
  assert.equal(u.searchParams.get('y'), '2');
  const q = new url.URLSearchParams('a=1&a=2&b=%20');
  assert.deepEqual(q.getAll('a'), ['1', '2']);
  assert.equal(q.get('b'), ' ');
  const p = url.parse('http://h.test:81/p/q?z=9#f', true);
  assert.deepEqual([p.protocol, p.hostname, p.port, p.pathname, p.query.z, p.hash, p.path], ['http:', 'h.test', '81', '/p/q', '9', '#f', '/p/q?z=9']);
  assert.equal(url.format({ protocol: 'https', hostname: 'a.test', pathname: '/x', query: { k: 'v w' } }), 'https://a.test/x?k=v%20w');
  assert.equal(url.resolve('http://a.test/b/c', '../d'), 'http://a.test/d');
});

test('util: format, inspect, promisify, TextEncoder/TextDecoder', async () => {
  assert.equal(util.format('%s=%d', 'a', 1, 'extra'), 'a=1 extra');
  assert.equal(util.inspect({ a: [1, { b: 'c' }] }), "{ a: [ 1, { b: 'c' } ] }");
  const o = {};
  o.self = o;
  assert.equal(util.inspect(o), '{ self: [Circular] }');
  const f = util.promisify((x, cb) => cb(null, x * 2));
  assert.equal(await f(21), 42);
  const enc = new TextEncoder().encode('é€😀');
  assert.deepEqual([...enc], [...Buffer.from('é€😀')]);
  assert.equal(new util.TextDecoder().decode(enc), 'é€😀');
  assert.equal(new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), 'A');
  assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])), TypeError);
  assert.equal(new TextDecoder().decode(new Uint8Array([0xff])), '\ufffd');
  const d = new TextDecoder();
  assert.equal(d.decode(enc.subarray(0, 3), { stream: true }) + d.decode(enc.subarray(3)), 'é€😀');
  assert.throws(() => new TextDecoder('latin1'), RangeError);
});

test('crypto: randomBytes from the host, randomUUID, getRandomValues; hashing throws naming itself', () => {
  const b = crypto.randomBytes(16);
  assert.ok(Buffer.isBuffer(b));
  assert.equal(b.length, 16);
  assert.equal(b.toString('hex').length, 32);
  assert.match(crypto.randomUUID(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const arr = crypto.getRandomValues(new Uint32Array(4));
  assert.equal(arr.length, 4);
  const n = crypto.randomInt(10);
  assert.ok(n >= 0 && n < 10);
  assert.equal(crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')), true);
  assert.throws(() => crypto.createHash('sha256'), /^Error: crypto.createHash is not supported by op$/);
  assert.throws(() => crypto.createHmac('sha256', 'k'), /crypto.createHmac is not supported by op/);
});

function responseOf(req) {
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString() }));
    });
  });
}

test('https.request(options, cb) with write/end maps onto __op.fetch with an absolute URL', async () => {
  fresh().on('POST', 'https://api.example.com:8443/v1/send', (req) => ({
    status: 201, headers: { 'x-echo': req.header('x-token'), 'set-cookie': 'a=1' }, body: `got ${req.text}`,
  }));
  const done = new Promise((resolve, reject) => {
    const req = https.request({ hostname: 'api.example.com', port: 8443, path: '/v1/send', method: 'POST', headers: { 'X-Token': 't' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ res, body }));
    });
    req.on('error', reject);
    req.setTimeout(1000);
    req.write('part1,');
    req.end(Buffer.from('part2'));
  });
  const { res, body } = await done;
  assert.equal(res.statusCode, 201);
  assert.equal(res.statusMessage, 'Created');
  assert.equal(res.headers['x-echo'], 't');
  assert.deepEqual(res.headers['set-cookie'], ['a=1']);
  assert.equal(body, 'got part1,part2');
  const s = last();
  assert.equal(s.url, 'https://api.example.com:8443/v1/send');
  assert.equal(s.root, false);
  assert.equal(s.timeout, 1000);
  assert.equal(s.header('x-token'), 't');
});

test('http.get(url, cb), http.request(url, options) and transport errors', async () => {
  fresh().on('GET', 'http://plain.test/x', { body: 'hello' });
  const got = await new Promise((resolve) => {
    http.get('http://plain.test/x?q=1', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
  });
  assert.equal(got, 'hello');
  assert.equal(last().url, 'http://plain.test/x?q=1');
  assert.equal(last().method, 'GET');
  const { body } = await responseOf(http.request('http://plain.test/x', { method: 'GET', auth: 'u:p' }).end() || http.request('http://plain.test/x'));
  assert.ok(body === 'hello' || body === '');
  fresh().on('GET', 'http://down.test/', { error: { tag: 'connection-failed', message: 'refused' } });
  const err = await new Promise((resolve) => {
    const req = http.request('http://down.test/');
    req.on('error', resolve);
    req.end();
  });
  assert.equal(err.code, 'connection-failed');
  assert.match(err.message, /refused/);
});

test('node-fs: fs.promises inside the workspace; outside it "Out of the accessible path range"', async () => {
  const { promises: fsp, resolveWorkspacePath } = await import('../src/node-fs.js');
  await fsp.mkdir('data/deep', { recursive: true });
  await fsp.writeFile('data/a.txt', 'héllo');
  await fsp.appendFile('/workspace/data/a.txt', ' world');
  assert.equal(await fsp.readFile('./data/a.txt', 'utf8'), 'héllo world');
  assert.equal((await fsp.readFile('data/a.txt')).length, 12);
  assert.deepEqual(await fsp.readdir('data'), ['a.txt', 'deep']);
  const [file, dir] = await fsp.readdir('data', { withFileTypes: true });
  assert.ok(file.isFile() && dir.isDirectory());
  const st = await fsp.stat('data/a.txt');
  assert.equal(st.size, 12);
  assert.ok(st.isFile());
  await fsp.rename('data/a.txt', 'data/deep/b.txt');
  await assert.rejects(fsp.readFile('data/a.txt'), (e) => e.code === 'ENOENT' && e.message.startsWith("ENOENT: no such file or directory, open 'data/a.txt'"));
  await assert.rejects(fsp.rm('data'), (e) => e.code === 'EISDIR');
  await fsp.rm('data', { recursive: true });
  await fsp.rm('data', { force: true });
  for (const bad of ['../x', '/etc/passwd', 'a/../../x', '/workspace/../etc', '/workspacex/y']) {
    await assert.rejects(fsp.readFile(bad), /^Error: Out of the accessible path range$/, bad);
    await assert.rejects(fsp.writeFile(bad, 'x'), /Out of the accessible path range/, bad);
  }
  assert.equal(resolveWorkspacePath('a/./b/../c'), '/workspace/a/c');
  for (const bad of [42, null, undefined, ['a'], { path: 'a' }]) {
    await assert.rejects(fsp.readFile(bad), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
  }
});
