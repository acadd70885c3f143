import { storage, WhereConditions, SortOrder, StorageError } from '@ones-op/sdk/backend'
import { Logger } from '@ones-op/node-logger'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

interface Tick {
  kind: string
  at?: number
  seen?: number
}

const tickStore = storage.entity<Tick>('tick')

// The ONES template's timer task: no argument.
export async function taskAction(): Promise<void> {
  const now = Date.now()
  await tickStore.set(`t${now}`, { kind: 'timer', at: now })
  Logger.info('stored tick %s', String(now))
}

// Every tick, newest first, one small page at a time (the cursor used as a
// mutation of the query, as real plugins do).
export async function ticks(_request: PluginRequest): Promise<PluginResponse> {
  const query = tickStore
    .query()
    .index('by_time', { partition: ['timer'] })
    .where(WhereConditions.isGreaterThan(0))
    .sort(SortOrder.DESC)
    .limit(2)
  const keys: string[] = []
  for (;;) {
    const page = await query.getMany()
    keys.push(...page.data.map((d) => d.key))
    if (!page.page_info.has_more) break
    query.cursor(page.page_info.end_cursor)
  }
  return { body: { keys, first: keys.length ? await tickStore.get(keys[0]) : null } }
}

// Writes the body under the key; a refused value answers 400 with op's reason.
export async function note(request: PluginRequest<Tick>): Promise<PluginResponse> {
  const key = String(request.params.key)
  try {
    await tickStore.set(key, request.body)
  } catch (err) {
    if (err instanceof StorageError) {
      return { statusCode: 400, body: { code: err.code, reason: err.message } }
    }
    throw err
  }
  return { body: { stored: await tickStore.get(key) } }
}
