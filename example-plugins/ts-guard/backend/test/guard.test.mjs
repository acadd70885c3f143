// `npm test`: bundles src/index.ts with op-build and calls the intercept
// under op's mock natives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = process.env.OP_JS_SDK || path.join(here, '../../../../plugin-sdk-js');
const { mockOp, request, call, loadPlugin } = await import(pathToFileURL(path.join(sdk, 'testing.mjs')).href);

const op = mockOp();
const plugin = await loadPlugin(path.join(here, '..'), { checkTypes: true });
const add = (tasks) => request({
  method: 'POST', url: '/team/T1/tasks/add2', params: { teamUUID: 'T1' }, body: { tasks },
});

test('tasks with summaries pass through', async () => {
  const res = await call(plugin.guard, add([{ summary: 'Write the SDK' }]));
  assert.equal(res.status, 200);
  assert.equal(res.error, undefined);
});

test('a blank summary is refused with the ONES warning', async () => {
  op.reset();
  const res = await call(plugin.guard, add([{ summary: 'ok' }, { summary: '   ' }]));
  assert.deepEqual(
    { status: res.status, kind: res.kind, reason: res.reason, type: res.type },
    { status: 400, kind: 'task_guard', reason: 'task 2 has an empty summary', type: 'warning' },
  );
  assert.ok(op.logged('refused a task creation in team T1'));
});

test('a body without tasks passes', async () => {
  assert.equal((await call(plugin.guard, request({ method: 'POST', url: '/team/T1/tasks/add2' }))).status, 200);
});
