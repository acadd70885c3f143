import { OPFetch } from '@ones-op/fetch'
import { Logger } from '@ones-op/node-logger'
import { storage, WhereConditions, SortOrder } from '@ones-op/sdk/backend'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

const SOURCE = '/users/me'

interface Snapshot {
  source: string
  at: number
  status?: number
  manual?: boolean
  body?: string
}

const snapshots = storage.entity<Snapshot>('snapshot')

// `sync-timer`, every 5 s: the ONES template's timer function, with no
// argument. Reads ONES as the super-admin and keeps what it saw.
export async function syncNow(): Promise<void> {
  const res = await OPFetch({ path: SOURCE, method: 'GET', root: true })
  const at = Date.now()
  await snapshots.set(`${SOURCE}@${at}`, {
    source: SOURCE,
    at,
    status: res.statusCode,
    body: JSON.stringify(res.body).slice(0, 1000),
  })
  Logger.info('synced %s: %s', SOURCE, String(res.statusCode))
}

// GET /ts-timer-sync/history?limit=N&since=MS: the latest snapshots.
export async function history(request: PluginRequest): Promise<PluginResponse> {
  const limit = Number(request.query.limit || 10)
  const since = Number(request.query.since || 0)
  const page = await snapshots
    .query()
    .index('by_time', { partition: [SOURCE] })
    .where(WhereConditions.isGreaterThanEqualTo(since))
    .sort(SortOrder.DESC)
    .limit(limit)
    .getMany()
  return {
    body: {
      snapshots: page.data.map(({ value }) => ({ at: value.at, status: value.status, manual: value.manual })),
      more: page.page_info.has_more,
    },
  }
}
