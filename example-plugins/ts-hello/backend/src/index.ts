import { Logger } from '@ones-op/node-logger'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'

// POST /hello: the ONES template's greeting, with the request's body.
export async function jackFunc(request: PluginRequest): Promise<PluginResponse> {
  Logger.info('[Plugin] body', request.body)
  return { body: { res: 'hello world', requestBody: request.body } }
}
