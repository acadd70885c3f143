// `npm test`: bundles src/index.ts with op-build and calls the bundle's
// functions under op's mock natives (plugin-sdk-js/testing.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = process.env.OP_JS_SDK || path.join(here, '../../../../plugin-sdk-js');
const { mockOp, request, call, loadPlugin } = await import(pathToFileURL(path.join(sdk, 'testing.mjs')).href);

const op = mockOp();
const plugin = await loadPlugin(path.join(here, '..'), { checkTypes: true });

test('POST /hello answers the greeting and the request body', async () => {
  op.reset();
  const res = await call(plugin.jackFunc, request({ method: 'POST', url: '/hello', body: { name: 'op' } }));
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { res: 'hello world', requestBody: { name: 'op' } });
  assert.ok(op.logged('[Plugin] body', 'info'));
  assert.ok(op.logged('{"name":"op"}'));
});

test('an empty body is echoed as undefined', async () => {
  const res = await call(plugin.jackFunc, request({ method: 'POST', url: '/hello' }));
  assert.deepEqual(res.body, { res: 'hello world', requestBody: undefined });
});
