// `npm test`: bundles src/index.ts with op-build and runs the timer and the
// route under op's mock natives, whose storage keeps records in memory under
// op's rules (plugin-sdk-js/testing.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = process.env.OP_JS_SDK || path.join(here, '../../../../plugin-sdk-js');
const { mockOp, request, call, loadPlugin } = await import(pathToFileURL(path.join(sdk, 'testing.mjs')).href);

// plugin.yaml's storage.entities.
const entities = [
  {
    name: 'snapshot',
    attributes: [
      { name: 'source', type: 'string', length: 64, required: true },
      { name: 'at', type: 'integer', required: true },
      { name: 'status', type: 'integer' },
      { name: 'manual', type: 'boolean', default: false },
      { name: 'body', type: 'text', length: 4096 },
    ],
    indexes: [{ name: 'by_time', range_attribute: 'at', partition: ['source'] }],
  },
];
const op = mockOp({ entities }).on('GET', '/users/me', { status: 200, body: { uuid: 'ADMIN001' } });
const plugin = await loadPlugin(path.join(here, '..'), { checkTypes: true });

test('each tick keeps a snapshot; history lists them newest first', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await call(plugin.syncNow);
    assert.equal(res.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(op.fetches.length, 3);
  assert.ok(op.fetches.every((f) => f.root), 'as the super-admin');
  assert.ok(op.logged('synced /users/me: 200'));
  const res = await call(plugin.history, request({ method: 'GET', url: '/ts-timer-sync/history?limit=2' }));
  assert.equal(res.status, 200);
  assert.equal(res.body.snapshots.length, 2);
  assert.equal(res.body.more, true);
  const [a, b] = res.body.snapshots;
  assert.ok(a.at > b.at, 'newest first');
  assert.deepEqual({ status: a.status, manual: a.manual }, { status: 200, manual: false });
});
