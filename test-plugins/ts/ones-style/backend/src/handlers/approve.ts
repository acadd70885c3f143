import { OPFetch } from '@ones-op/fetch'
import { Plugin } from '@ones-op/node-ability'

export async function approve(request) {
  const userId = request.headers['ones-user-id'] || request.headers['Ones-User-Id']
  if (!userId) {
    return { statusCode: 401, body: { reason: 'who are you?' } }
  }
  const config = await Plugin.getPluginConfig(globalThis.onesEnv.teamUUID)
  const res = await OPFetch.post(`/team/${request.params.teamUUID}/items/update`, {
    project: request.params.projectUUID,
    approvedBy: userId,
  })
  return { body: { ok: res.status === 200, config } }
}
