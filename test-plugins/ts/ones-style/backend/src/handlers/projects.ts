import { OPFetch } from '@ones-op/fetch'
import { Logger } from '@ones-op/node-logger'
import { PluginRequest, PluginResponse } from '@ones-op/node-types'

const TEAM = globalThis.onesEnv.teamUUID

export async function listProjects(request: PluginRequest): Promise<PluginResponse> {
  const teamUUID = request.params.teamUUID || TEAM
  try {
    const res = await OPFetch(`/team/${teamUUID}/projects/my_project`, { teamUUID })
    const data = res.data || res
    Logger.info('listed projects for %s', teamUUID)
    return { body: { team: teamUUID, answered: data } }
  } catch (err) {
    const status = err.response ? err.response.status : 500
    return { statusCode: status, body: { error: err.message } }
  }
}
