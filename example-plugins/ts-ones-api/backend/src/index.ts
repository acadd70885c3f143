import { OPFetch, FetchAsAdmin, isFetchError } from '@ones-op/fetch'
import { Logger } from '@ones-op/node-logger'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

// GET /me — the ONES docs' example as written: the caller's own profile,
// ONES's answer returned as the plugin's answer.
export async function getUserme(request: PluginRequest): Promise<PluginResponse> {
  const userUUID = request.headers['Ones-User-Id']
  const userToken = request.headers['Ones-Auth-Token']
  return OPFetch({ path: `/users/me`, method: 'GET',
                   headers: { 'Ones-User-Id': userUUID, 'Ones-Auth-Token': [userToken] },
                   root: false, teamUUID: '' })
}

// POST /projects — the docs' items/view call as the super-admin.
export async function projects(request: PluginRequest<{ limit?: number }>): Promise<PluginResponse> {
  const r = await OPFetch({
    path: `/team/${globalThis.onesEnv.teamUUID}/items/view`,
    method: 'POST',
    body: { query: { must: [{ equal: { item_type: 'project' } }] }, view: ['[default]'] },
    root: true,
  })
  const items: Array<{ uuid: string; name: string }> = r.data.items ?? []
  const limit = request.body?.limit ?? items.length
  return { body: { projects: items.slice(0, limit).map((p) => ({ uuid: p.uuid, name: p.name })) } }
}

// GET /admin/name — axios style, with a refusal read from the FetchError.
export async function adminName(_request: PluginRequest): Promise<PluginResponse> {
  try {
    const res = await OPFetch.get('/users/me')
    const user = res.data || res
    return { body: { name: user.name } }
  } catch (err) {
    if (isFetchError(err) && err.response) {
      Logger.warn('ONES answered %d to /users/me', err.response.status)
      return { statusCode: err.response.status, body: { reason: err.message, upstream: err.response.data } }
    }
    throw err
  }
}

// GET /team/:teamUUID/openapi-projects — ONES OpenAPI v2 through FetchAsAdmin.
export async function openapiProjects(request: PluginRequest): Promise<PluginResponse> {
  const teamID = request.params.teamUUID
  const res = await FetchAsAdmin('/openapi/v2/project/projects', {
    method: 'GET',
    params: { teamID, limit: 10 },
  })
  return { statusCode: res.status, body: res.data }
}
