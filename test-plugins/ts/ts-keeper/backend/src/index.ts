import { storage, WhereConditions, SortOrder, StorageError } from '@ones-op/sdk/backend'
import { Logger } from '@ones-op/node-logger'
import { OPFetch } from '@ones-op/fetch'
import { promises as fsp } from '@ones-op/node-fs'
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

// The workspace through @ones-op/node-fs: what a backend writes stays in
// its workspace; paths that leave it are refused.
export async function files(_request: PluginRequest): Promise<PluginResponse> {
  await fsp.mkdir('notes', { recursive: true })
  await fsp.writeFile('notes/a.txt', 'one')
  await fsp.appendFile('notes/a.txt', ' two')
  const text = await fsp.readFile('notes/a.txt', 'utf8')
  const size = (await fsp.stat('/workspace/notes/a.txt')).size
  await fsp.rename('notes/a.txt', 'notes/b.txt')
  const escapes: Record<string, string> = {}
  for (const p of ['../../etc/passwd', '/etc/passwd', 'notes/../../x', '/workspace/../etc/hosts']) {
    try {
      await fsp.readFile(p, 'utf8')
      escapes[p] = 'read!'
    } catch (e) {
      escapes[p] = (e as Error).message
    }
  }
  let nonString = ''
  try {
    await fsp.readFile(42 as unknown as string)
  } catch (e) {
    nonString = (e as Error).message
  }
  let missing = ''
  try {
    await fsp.readFile('notes/none.txt')
  } catch (e) {
    missing = (e as { code: string }).code
  }
  return { body: { text, size, names: await fsp.readdir('notes'), escapes, nonString, missing } }
}

// Object storage: an upload address for a browser, as ONES hands it out.
export async function coverUpload(_request: PluginRequest): Promise<PluginResponse> {
  const result = await storage.object.upload('cover')
  return { body: { url: result.getWebUrl(), fields: result.getFields() } }
}

// What the browser uploaded, read back through the plugin's own download
// address with OPFetch, and directly.
export async function coverRead(_request: PluginRequest): Promise<PluginResponse> {
  const address = await storage.object.download('cover')
  const res = await OPFetch({ url: address.getUrl(), method: 'GET' })
  const direct = await storage.object.get('cover')
  return {
    body: {
      status: res.status,
      viaFetch: res.data,
      direct: direct ? direct.text() : null,
      type: direct ? direct.contentType : null,
    },
  }
}
