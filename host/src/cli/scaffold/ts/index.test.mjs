// `npm test`: bundles src/index.ts the way op does and calls its functions
// under the JS SDK's mock host (canned OPFetch answers, recorded calls and
// log lines). The SDK is linked at ../.op/js-sdk by every op command run on
// this project (`op check`, `op invoke run`, ...).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const sdk = process.env.OP_JS_SDK || path.join(here, '../../.op/js-sdk')
const { mockOp, request, call, loadPlugin } = await import(pathToFileURL(path.join(sdk, 'testing.mjs')).href)

const op = mockOp()
const plugin = await loadPlugin(path.join(here, '..'), { checkTypes: true })

test('hello greets and names the caller ONES knows', async () => {
  op.reset()
  op.on('GET', '/users/me', { status: 200, body: { uuid: 'AliceU01' } })
  const res = await call(
    plugin.hello,
    request({ method: 'POST', url: '/hello', headers: { 'Ones-User-Id': 'AliceU01' }, body: { x: 1 } }),
  )
  assert.equal(res.status, 200)
  assert.deepEqual(res.body, { res: 'hello world', requestBody: { x: 1 }, caller: 'AliceU01' })
  assert.equal(op.fetches.length, 1)
  assert.equal(op.fetches[0].root, false)
})

test('a task without a summary is refused before ONES sees it', async () => {
  const res = await call(
    plugin.checkTasks,
    request({ method: 'POST', url: '/team/T1/tasks/add2', body: { tasks: [{ summary: ' ' }] } }),
  )
  assert.equal(res.status, 400)
  assert.equal(res.type, 'warning')
  assert.equal(res.reason, 'task 1 has no summary')
})
