import { Logger } from '@ones-op/node-logger'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

interface AddTasks {
  tasks?: Array<{ summary?: string }>
}

// The ONES warning shape: op answers it as a 400 with
// {model: 'plugin.task_guard', reason, type: 'warning'}.
class TaskRefused extends Error {
  statusCode = 400
  body: { reason: string; code: number; type: 'warning'; model: string }
  constructor(reason: string) {
    super(reason)
    this.body = { reason, code: 400, type: 'warning', model: 'plugin.task_guard' }
  }
}

// intercept on POST /team/:teamUUID/tasks/add2: a 2xx answer lets it through.
export async function guard(request: PluginRequest<AddTasks>): Promise<PluginResponse> {
  const tasks = request.body?.tasks ?? []
  const blank = tasks.findIndex((t) => !t.summary || t.summary.trim() === '')
  if (blank >= 0) {
    Logger.info('refused a task creation in team %s', request.params.teamUUID)
    throw new TaskRefused(`task ${blank + 1} has an empty summary`)
  }
  return {}
}
