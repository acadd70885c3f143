import { OPFetch } from '@ones-op/fetch'
import { Logger } from '@ones-op/node-logger'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

// POST /hello: the greeting, the request's body, and who called (asked of
// ONES as the calling user).
export async function hello(request: PluginRequest): Promise<PluginResponse> {
  Logger.info('[Plugin] body', request.body)
  let caller: string | undefined
  if (request.headers['Ones-User-Id']) {
    const me = await OPFetch({ path: '/users/me', method: 'GET', root: false })
    caller = me.data?.uuid
  }
  return { body: { res: 'hello world', requestBody: request.body, caller } }
}

interface AddTasks {
  tasks?: Array<{ summary?: string }>
}

// intercept on POST /team/:teamUUID/tasks/add2: a 2xx answer lets the call
// go on to ONES; a throw refuses it (here in the ONES warning shape).
export async function checkTasks(request: PluginRequest<AddTasks>): Promise<PluginResponse> {
  const tasks = request.body?.tasks ?? []
  const blank = tasks.findIndex((task) => !task.summary?.trim())
  if (blank >= 0) {
    throw {
      statusCode: 400,
      body: { reason: `task ${blank + 1} has no summary`, code: 400, type: 'warning', model: 'plugin.no_summary' },
    }
  }
  return {}
}
