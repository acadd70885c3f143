// `npm test`: bundles src/index.ts with op-build and calls the bundle under
// op's mock natives, with canned ONES answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = process.env.OP_JS_SDK || path.join(here, '../../../../plugin-sdk-js');
const { mockOp, request, call, loadPlugin } = await import(pathToFileURL(path.join(sdk, 'testing.mjs')).href);

const op = mockOp({ env: { teamUUID: 'T1' } });
const plugin = await loadPlugin(path.join(here, '..'), { checkTypes: true });

test('getUserme asks as the caller, with the caller headers, and returns ONES answer', async () => {
  op.reset().on('GET', '/users/me', { status: 200, body: { uuid: 'U1', name: 'Ann' } });
  const res = await call(plugin.getUserme, request({
    url: '/me', headers: { 'ones-user-id': 'U1', 'ones-auth-token': 'tok' },
  }));
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { uuid: 'U1', name: 'Ann' });
  const sent = op.fetches[0];
  assert.equal(sent.root, false);
  assert.equal(sent.teamUUID, undefined, "teamUUID: '' lets the host pick");
  assert.equal(sent.header('ones-user-id'), 'U1');
  assert.equal(sent.header('ones-auth-token'), 'tok');
});

test('projects posts items/view as the super-admin and reads r.data', async () => {
  op.reset().on('POST', '/team/:team/items/view', {
    body: { items: [{ uuid: 'P1', name: 'One', extra: 1 }, { uuid: 'P2', name: 'Two' }] },
  });
  const res = await call(plugin.projects, request({ method: 'POST', url: '/projects', body: { limit: 1 } }));
  assert.deepEqual(res.body, { projects: [{ uuid: 'P1', name: 'One' }] });
  const sent = op.fetches[0];
  assert.equal(sent.url, '/team/T1/items/view');
  assert.equal(sent.root, true);
  assert.deepEqual(sent.json().view, ['[default]']);
});

test('adminName reads res.data, and a refusal through the FetchError', async () => {
  op.reset().on('GET', '/users/me', { body: { name: 'Admin' } });
  assert.deepEqual((await call(plugin.adminName, request())).body, { name: 'Admin' });
  op.reset().on('GET', '/users/me', { status: 403, body: { code: 403, reason: 'no' } });
  const res = await call(plugin.adminName, request());
  assert.equal(res.status, 403);
  assert.deepEqual(res.body.upstream, { code: 403, reason: 'no' });
  assert.ok(op.logged('ONES answered 403 to /users/me', 'warning'));
});

test('openapiProjects calls OpenAPI v2 with the token stand-in, never a real token', async () => {
  op.reset().on('GET', '/openapi/v2/project/projects', { body: { projects: [] } });
  const res = await call(plugin.openapiProjects, request({ url: '/team/T9/openapi-projects', params: { teamUUID: 'T9' } }));
  assert.equal(res.status, 200);
  const sent = op.fetches[0];
  assert.equal(sent.header('authorization'), 'Bearer op-openapi-token:T9');
  assert.equal(sent.root, true);
  assert.deepEqual(sent.query, [['teamID', 'T9'], ['limit', '10']]);
});

test('a transport failure becomes a 500 with the tag', async () => {
  op.reset().on('GET', '/users/me', { error: { tag: 'timeout', message: 'ONES took too long' } });
  const res = await call(plugin.adminName, request());
  assert.equal(res.status, 500);
  assert.match(res.reason, /timeout: ONES took too long/);
});
