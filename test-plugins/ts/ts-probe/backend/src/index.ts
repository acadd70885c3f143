import { OPFetch, Fetch, FetchAsAdmin, getOpenApiToken, isFetchError } from '@ones-op/fetch'
import { fetchONES } from '@ones-op/node-fetch'
import { Logger } from '@ones-op/node-logger'
import { Plugin } from '@ones-op/node-ability'
import type { PluginRequest, PluginResponse } from '@ones-op/node-types'
import { randomBytes, randomUUID } from 'crypto'
import * as http from 'http'
import { format } from 'util'

// Read at module top level, as real plugins do: the installation's values.
const TOP_TEAM: string | undefined = globalThis.onesEnv.teamUUID
const TOP_CONFIG = globalThis.onesEnv.config

// Everything the plugin can see: request, environment, globals.
export async function echo(request: PluginRequest): Promise<PluginResponse> {
  console.log('echo %s', request.params.name)
  const headers: Record<string, string> = {}
  for (const key of Object.keys(request.headers)) headers[key] = String(request.headers[key])
  return {
    body: {
      method: request.method,
      url: request.url,
      params: request.params,
      query: request.query,
      body: request.body,
      headers,
      userId: [
        request.headers['Ones-User-Id'],
        request.headers['ones-user-id'],
        request.headers['ONES-USER-ID'],
      ],
      env: globalThis.onesEnv,
      topTeam: TOP_TEAM,
      topConfig: TOP_CONFIG,
      pluginConfig: await Plugin.getPluginConfig(globalThis.onesEnv.teamUUID ?? ''),
      globals: Object.getOwnPropertyNames(globalThis),
      openApiToken: await getOpenApiToken({ teamID: globalThis.onesEnv.teamUUID ?? '' }),
    },
  }
}

type Form = { form: string; path?: string; url?: string }

// One OPFetch call form, named in the body; what came back, both shapes.
export async function fetchForm(request: PluginRequest<Form>): Promise<PluginResponse> {
  const { form, path = '/users/me', url = '' } = request.body
  const team = globalThis.onesEnv.teamUUID ?? ''
  try {
    let res: any
    switch (form) {
      case 'docs-user':
        res = await OPFetch({
          path,
          method: 'GET',
          headers: {
            'Ones-User-Id': request.headers['Ones-User-Id'],
            'Ones-Auth-Token': [request.headers['Ones-Auth-Token']],
          },
          root: false,
          teamUUID: '',
        })
        break
      case 'docs-root':
        res = await OPFetch({ path, method: 'POST', body: { query: { must: [] }, view: ['[default]'] }, root: true })
        break
      case 'path-config':
        res = await OPFetch(path, { method: 'POST', teamUUID: team, headers: { 'X-Probe': 'yes' }, data: { a: 1 } })
        break
      case 'path-only':
        res = await OPFetch(path)
        break
      case 'url-key':
        res = await OPFetch({ url: path, method: 'PUT', data: 'plain text' })
        break
      case 'get':
        res = await OPFetch.get(path, { params: { q: 'x y' } })
        break
      case 'post':
        res = await OPFetch.post(path, { b: 2 })
        break
      case 'create': {
        const api = OPFetch.create({ teamUUID: team, headers: { 'X-Made': 'create' } })
        res = await api.get(path)
        break
      }
      case 'arraybuffer':
        res = await OPFetch({ path, responseType: 'arraybuffer' })
        return { body: { bytes: new Uint8Array(res.data).length } }
      case 'legacy': {
        const legacy = await fetchONES({ path, method: 'GET', root: true })
        return { body: { statusCode: legacy.statusCode, body: legacy.body } }
      }
      case 'openapi':
        res = await FetchAsAdmin(path, { method: 'GET', params: { teamID: team } })
        break
      case 'outside':
        res = await Fetch(url, { method: 'GET' })
        break
      default:
        return { statusCode: 400, body: { reason: `unknown form ${form}` } }
    }
    return {
      body: {
        statusCode: res.statusCode,
        status: res.status,
        data: res.data,
        same: res.body === res.data,
        contentType: res.headers['content-type'],
      },
    }
  } catch (e) {
    if (isFetchError(e)) {
      return {
        statusCode: 502,
        body: { fetchError: true, status: e.status, code: e.code, responseStatus: e.response?.status, data: e.response?.data, message: e.message },
      }
    }
    throw e
  }
}

// Calls this instance has served: 1 in every call, as each is a fresh instance.
let callsHere = 0

export async function random(): Promise<PluginResponse> {
  callsHere += 1
  return {
    body: { random: Math.random(), bytes: randomBytes(8).toString('hex'), now: Date.now(), calls: callsHere },
  }
}

// Failures on purpose: /fail/:how.
export async function fail(request: PluginRequest): Promise<PluginResponse> {
  switch (request.params.how) {
    case 'throw':
      throw new Error('boom')
    case 'reject':
      return Promise.reject({ statusCode: 409, body: { reason: 'taken', code: 409, type: 'warning', model: 'plugin.conflict' } })
    case 'never':
      return new Promise<PluginResponse>(() => {})
    case 'spin':
      for (;;) {}
    case 'oom': {
      const hoard: string[][] = []
      for (;;) hoard.push(new Array(100000).fill('x'.repeat(16)))
    }
    case 'log':
      Logger.error('about to fail')
      throw { statusCode: 418, reason: 'teapot' }
    default:
      return {}
  }
}

export async function timer(): Promise<PluginResponse> {
  const started = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const order: string[] = []
  await Promise.all([
    new Promise<void>((r) => setTimeout(() => { order.push('b'); r() }, 20)),
    new Promise<void>((r) => setTimeout(() => { order.push('a'); r() }, 5)),
  ])
  return { body: { waited: Date.now() - started, order } }
}

// Result shapes: /shape/:kind.
export async function shape(request: PluginRequest): Promise<PluginResponse> {
  switch (request.params.kind) {
    case 'text':
      return { statusCode: 201, headers: { 'X-One': 'a', 'X-Two': ['b', 'c'] }, body: 'plain' }
    case 'bytes':
      return { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 1, 2, 255]) }
    case 'empty':
      return undefined as unknown as PluginResponse
    case 'raw':
      return { body: { length: request.rawBody?.length ?? -1 } }
    case 'churn': {
      // Allocates megabytes: growing strings and arrays (reallocs), and
      // garbage that is freed and allocated again.
      let text = ''
      const parts: string[] = []
      let sum = 0
      for (let i = 0; i < 20000; i++) {
        text += String.fromCharCode(97 + (i % 26))
        parts.push(`item-${i}`)
        const garbage = { i, label: `g${i}`, list: [i, i + 1, i + 2] }
        sum += garbage.list[2] - garbage.i
      }
      const joined = parts.join(',')
      return { body: { text: text.length, head: text.slice(0, 28), joined: joined.length, last: parts[parts.length - 1], sum } }
    }
    default:
      return { body: { kind: request.params.kind } }
  }
}

// The Node built-ins and web globals real backends use, in QuickJS.
export async function builtins(request: PluginRequest<{ outside: string }>): Promise<PluginResponse> {
  const url = new URL('https://ones.example.com/project/api?x=1&y=two%20words#frag')
  url.searchParams.append('z', 'ü')
  const params = new URLSearchParams({ a: '1', b: 'x y' })
  const encoded = new TextEncoder().encode('héllo')
  const outside = await new Promise<{ status?: number; body: string; type?: string }>((resolve, reject) => {
    const req = http.request(request.body.outside, { method: 'POST', headers: { 'X-Via': 'node-http' } }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer | string) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode, body, type: String(res.headers['content-type']) }))
    })
    req.on('error', reject)
    req.write(JSON.stringify({ from: 'http.request' }))
    req.end()
  })
  return {
    body: {
      base64: Buffer.from('hello op').toString('base64'),
      fromBase64: Buffer.from('aGVsbG8gb3A=', 'base64').toString('utf8'),
      byteLength: Buffer.byteLength('héllo'),
      concat: Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(),
      host: url.host,
      y: url.searchParams.get('y'),
      href: url.href,
      params: params.toString(),
      encoded: Array.from(encoded),
      decoded: new TextDecoder().decode(encoded),
      uuid: randomUUID(),
      random: Array.from(crypto.getRandomValues(new Uint8Array(4))).length,
      formatted: format('%s is %d', 'answer', 42),
      outside,
    },
  }
}

// Log lines of every kind of argument, through the SDK's Logger and the
// runner's console: the common kinds are written natively, the others by
// the SDK's format; both must read as Node's util.format would write them.
class Point {
  constructor(public x: number, public y: number) {}
}
export async function logs(request: PluginRequest): Promise<PluginResponse> {
  const cycle: Record<string, unknown> = { name: 'c' }
  cycle.self = cycle
  Logger.info('[logs] plain', request.body, 'text', 42, -0, 1.5, true, null, undefined, [1, 'a'])
  Logger.warn('[logs] printf %s=%d', 'n', 7)
  Logger.error('[logs] class', new Point(1, 2))
  Logger.info('[logs] cycle', cycle)
  Logger.info('[logs] map', new Map([['k', 1]]))
  console.log('[logs] console', { a: [1, { b: null }] }, -0, 'x')
  console.warn('[logs] console %s!', 'fmt')
  Logger.info(7, '[logs] number first')
  Logger.info({ first: '[logs] object first' }, 2n)
  return { body: { ok: true } }
}

// JSON answers: case N's value is the body (written by the runner), and
// the engine's own JSON.stringify of it rides in `x-engine-json`
// (URI-encoded), for the test to compare byte for byte. An unknown case
// answers 404.
function jsonCase(n: number): unknown {
  const holes: unknown[] = [1, , 3]
  ;(holes as unknown as Record<string, unknown>).extra = 1
  let deep: unknown = 'bottom'
  for (let i = 0; i < 40; i++) deep = { i, deep }
  const bare = Object.create(null) as Record<string, unknown>
  bare.z = 1
  bare.a = [true]
  const cases: (() => unknown)[] = [
    () => ({ a: 1, b: 'x', c: [1, 2, { d: null }], e: true, f: false }),
    () => ['quote" back\\ nl\n tab\t cr\r bs\b ff\f ctl\u0001\u001f del\u007f ü € 😀', ''],
    () => [0, -0, 1, -1, 1.5, -2.25, 1e21, 1e-7, 2 ** 53, 2 ** 60, 123456789012, 0.1 + 0.2, NaN,
      Infinity, -Infinity, 5e-324, 1.7976931348623157e308, 2147483647, 2147483648, -2147483649, 4.35],
    () => ({ u: undefined, f() { return 1 }, s: Symbol('x'), k: 1, arr: [undefined, () => 1, Symbol('y')] }),
    () => ({ b: 1, 2: 'two', a: 2, 1: 'one', '-1': 'neg', '01': 'lead' }),
    () => ({ o: {}, a: [], n: [[[]]] }),
    () => ({ d: new Date(0), t: { toJSON() { return 'T' } } }),
    () => ({ lone: 'a\uD800b' }),
    () => bare,
    () => ({ p: new Point(1, 2) }),
    () => ({ get g() { return 5 }, v: 1 }),
    () => holes,
    () => deep,
    () => [new Number(3), new String('s'), new Boolean(false)],
    () => ({ 'ключ': 'значение', 'a"b\n': 1 }),
    () => ({ only: undefined }),
  ]
  return n < cases.length ? cases[n]() : undefined
}
export async function json(request: PluginRequest): Promise<PluginResponse> {
  const n = Number(request.params.case)
  const value = jsonCase(n)
  if (value === undefined) return { statusCode: 404, body: 'no such case' }
  return {
    headers: { 'x-engine-json': encodeURIComponent(JSON.stringify(value)) },
    body: value,
  }
}
