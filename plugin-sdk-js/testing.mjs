// Test helpers for plugin projects (and the SDK's own tests): a mock of the
// runner's natives (`globalThis.__op`, `globalThis.onesEnv`) with canned
// answers for OPFetch, a PluginRequest builder, and loadPlugin(), which
// bundles a backend with op-build and imports the bundle.
//
//   import { mockOp, request, loadPlugin } from '<sdk>/testing.mjs';
//   const op = mockOp({ env: { teamUUID: 'T1' } })
//     .on('GET', '/users/me', { status: 200, body: { uuid: 'U1' } });
//   const plugin = await loadPlugin(new URL('..', import.meta.url));
//   const res = await plugin.me(request({ method: 'GET', url: '/me' }));
//   op.fetches[0].root === false; op.logged('...');
import nodeCrypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { memoryObjects, memoryStorage } from './storage-mock.mjs';

const encoder = new globalThis.TextEncoder();

function toBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return encoder.encode(JSON.stringify(body));
}

function matches(pattern, url) {
  const p = pattern.split('?')[0].split('/');
  const u = url.split('?')[0].split('/');
  if (pattern === '*') return true;
  return p.length === u.length && p.every((seg, i) => seg.startsWith(':') || seg === '*' || seg === u[i]);
}

function decodeText(bytes) {
  return typeof bytes === 'string' ? bytes : new globalThis.TextDecoder().decode(bytes);
}

/**
 * Installs a mock `__op` and `onesEnv` on globalThis and returns it.
 * `env`: onesEnv values ({teamUUID, organizationUUID, instanceId, config}).
 * `entities`: plugin.yaml's storage.entities, as objects; `storage` keeps
 * their records in memory under op's rules (and `objects` keeps objects
 * under op's limits). `workspace`: the folder that
 * @ones-op/node-fs sees as the workspace (default: a new temporary one;
 * `mock.workspace` names it).
 */
export function mockOp({ env = {}, install = true, entities = [], workspace } = {}) {
  const root = workspace || fs.mkdtempSync(path.join(os.tmpdir(), 'op-workspace-'));
  const routes = [];
  const mock = {
    fetches: [],
    logs: [],
    /** Answers `method url` (':name' segments and '*' match anything) with
     * `answer`: {status, headers, body} (a non-string, non-bytes body is sent
     * as JSON), `{error: {tag, message}}` for a transport failure, or a
     * function (request) → either. Later routes win. */
    on(method, url, answer) {
      routes.unshift({ method: method.toUpperCase(), url, answer });
      return mock;
    },
    /** Whether a log line contains `text` (at `level`, when given). */
    logged(text, level) {
      return mock.logs.some((l) => l.message.includes(text) && (!level || l.level === level));
    },
    reset() {
      mock.fetches.length = 0;
      mock.logs.length = 0;
      return mock;
    },
    install() {
      const config = Object.assign({}, env.config);
      const e = Object.assign({}, config, {
        teamUUID: 'team-uuid', organizationUUID: 'org-uuid', instanceId: 'instance-1',
      }, env, { config });
      e.orgUUID = e.orgUUID || e.organizationUUID;
      globalThis.onesEnv = e;
      globalThis.__op = natives;
      return mock;
    },
    uninstall() {
      if (globalThis.__op === natives) {
        delete globalThis.__op;
        delete globalThis.onesEnv;
      }
    },
  };
  const natives = {
    fetch(req) {
      const body = toBytes(req.body);
      const recorded = Object.assign({}, req, {
        body,
        text: decodeText(body),
        json() {
          return JSON.parse(decodeText(body));
        },
        header(name) {
          const found = req.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
          return found.length ? found.join(', ') : undefined;
        },
      });
      mock.fetches.push(recorded);
      const route = routes.find((r) => (r.method === '*' || r.method === req.method) && matches(r.url, req.url));
      let answer = route ? route.answer : { status: 404, body: { code: 404, reason: `no mock answer for ${req.method} ${req.url}` } };
      if (typeof answer === 'function') answer = answer(recorded);
      if (answer && answer.error) throw Object.assign({}, answer.error);
      const headers = Object.entries((answer && answer.headers) || {}).map(([k, v]) => [k.toLowerCase(), String(v)]);
      const b = answer ? answer.body : undefined;
      if (b !== undefined && typeof b !== 'string' && !(b instanceof Uint8Array) && !headers.some(([k]) => k === 'content-type')) {
        headers.push(['content-type', 'application/json']);
      }
      return { status: (answer && answer.status) || 200, headers, body: toBytes(b) };
    },
    log(level, message) {
      mock.logs.push({ level, message });
    },
    randomBytes(n) {
      return new Uint8Array(nodeCrypto.randomBytes(n));
    },
    utf8Encode(s) {
      return encoder.encode(s);
    },
    utf8Decode(b, fatal) {
      return new globalThis.TextDecoder('utf-8', { fatal }).decode(b);
    },
    storage: memoryStorage(entities),
    objects: memoryObjects(),
    fs: workspaceFiles(root),
  };
  mock.workspace = root;
  mock.natives = natives;
  if (install) mock.install();
  return mock;
}

// The runner's `__op.fs` natives on a folder of this machine: paths arrive
// resolved under /workspace by @ones-op/node-fs; errors are {tag, message}.
function workspaceFiles(root) {
  const real = (p) => path.join(root, p.slice('/workspace'.length));
  const wrap = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      if (e && e.code) throw { tag: e.code, message: e.message };
      throw e;
    }
  };
  return {
    readFile: wrap((p) => new Uint8Array(fs.readFileSync(real(p)))),
    writeFile: wrap((p, data, append) => (append ? fs.appendFileSync : fs.writeFileSync)(real(p), data)),
    readdir: wrap((p) => fs.readdirSync(real(p), { withFileTypes: true }).map((d) => [d.name, d.isDirectory()]).sort()),
    stat: wrap((p) => {
      const s = fs.statSync(real(p));
      return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
    }),
    mkdir: wrap((p, recursive) => {
      fs.mkdirSync(real(p), { recursive });
    }),
    rm: wrap((p, recursive) => {
      const s = fs.lstatSync(real(p));
      if (s.isDirectory() && !recursive) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      fs.rmSync(real(p), { recursive });
    }),
    rename: wrap((a, b) => fs.renameSync(real(a), real(b))),
  };
}

function headerObject(headers) {
  const h = {};
  for (const [k, v] of Object.entries(headers || {})) h[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  return new Proxy(h, {
    get: (t, k) => (typeof k === 'string' ? t[k.toLowerCase()] : t[k]),
    has: (t, k) => (typeof k === 'string' ? k.toLowerCase() in t : k in t),
  });
}

/** A PluginRequest shaped as op's runner shapes it. */
export function request({ method = 'GET', url = '/', headers = {}, body, params = {}, query } = {}) {
  const [p, qs] = url.split('?');
  const q = query || Object.fromEntries(new URLSearchParams(qs || ''));
  let text = '';
  if (typeof body === 'string') text = body;
  else if (body !== undefined) text = JSON.stringify(body);
  let parsed;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return {
    method: method.toUpperCase(), url, path: p, params: Object.assign({}, params), query: q,
    headers: headerObject(headers), body: parsed, rawBody: encoder.encode(text),
  };
}

/** Runs a plugin function as the runner would: its answer as {status,
 * headers, body}, or a throw/rejection as the ONES error {status, kind,
 * reason, type}. */
export async function call(fn, req) {
  try {
    const res = await fn(req);
    if (res === undefined || res === null) return { status: 200, headers: {}, body: undefined };
    return { status: res.statusCode ?? 200, headers: res.headers || {}, body: res.body };
  } catch (e) {
    if (e === null || typeof e !== 'object') return { status: 500, kind: 'error', reason: String(e), error: true };
    const b = e.body && typeof e.body === 'object' ? e.body : {};
    const model = e.model ?? b.model;
    let status = e.statusCode ?? e.status ?? b.code;
    if (typeof status !== 'number' || status < 400 || status > 599) status = 500;
    return {
      status,
      kind: typeof model === 'string' ? model.replace(/^plugin\./, '') : 'error',
      reason: String(e.reason ?? b.reason ?? e.message ?? e),
      type: e.type ?? b.type,
      error: true,
    };
  }
}

let counter = 0;

/** Bundles `backend` (a directory path or file URL) with op-build and
 * imports the bundle: its exports are the plugin's functions. Install the
 * mock (mockOp) first if the plugin's top level reads onesEnv. */
export async function loadPlugin(backend, { checkTypes = false } = {}) {
  const dir = backend instanceof URL || String(backend).startsWith('file:') ? fileURLToPath(backend) : String(backend);
  const { build } = await import('./bin/op-build.mjs');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'op-test-')), `bundle-${counter++}.mjs`);
  const r = await build({ backend: dir, out, checkTypes });
  if (!r.ok) throw new Error(`op-build failed:\n${r.errors.join('\n')}`);
  return import(pathToFileURL(out).href);
}
