// op-build: bundles, reports errors with their place, resolves @ones-op and
// Node built-ins to the SDK, injects globals only when read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mockOp, request, call } from '../testing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../bin/op-build.mjs');
const HELLO = path.join(here, '../../example-plugins/ts-hello/backend');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'op-build-test-'));

function backend(name, files) {
  const dir = path.join(tmp, name);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

let runs = 0;
function run(dir, ...extra) {
  const out = path.join(tmp, 'out', `${path.basename(dir)}-${runs++}`, 'bundle.mjs');
  const r = spawnSync(process.execPath, [BIN, '--backend', dir, '--out', out, ...extra], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

test('bundles ts-hello: one JSON line, an ES module whose function answers', async () => {
  const r = run(HELLO);
  assert.equal(r.code, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim());
  assert.equal(line.bundle, r.out);
  assert.equal(line.bytes, fs.statSync(r.out).size);
  assert.equal(typeof line.ms, 'number');
  assert.ok(line.bytes < 6000, `ts-hello is ${line.bytes} bytes`);
  const text = fs.readFileSync(r.out, 'utf8');
  assert.doesNotMatch(text, /core-js|feross|EventEmitter/, 'no polyfill in a bundle that uses none');
  const op = mockOp();
  const mod = await import(pathToFileURL(r.out).href);
  const res = await call(mod.jackFunc, request({ method: 'POST', url: '/hello', body: { a: 1 } }));
  assert.deepEqual(res.body, { res: 'hello world', requestBody: { a: 1 } });
  assert.ok(op.logged('[Plugin] body'));
});

test('--check-types passes ts-hello and catches a type error with file:line:col', () => {
  assert.equal(run(HELLO, '--check-types').code, 0);
  const dir = backend('typeerr', {
    'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, outDir: 'dist' } }),
    'src/index.ts': [
      "import { OPFetch } from '@ones-op/fetch'",
      "import type { PluginRequest } from '@ones-op/node-types'",
      'export async function f(req: PluginRequest) {',
      "  const n: number = 'text'",
      "  return OPFetch({ path: '/x', root: 'yes' })",
      '}',
      '',
    ].join('\n'),
  });
  const r = run(dir, '--check-types');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^src\/index\.ts:4:9: error TS2322: Type 'string' is not assignable to type 'number'\./m);
  assert.match(r.stderr, /^src\/index\.ts:5:\d+: error TS\d+: /m);
  assert.equal(fs.existsSync(r.out), false, 'no bundle on failure');
  // without --check-types the same code bundles
  assert.equal(run(dir).code, 0);
});

test('a syntax error is reported at its place, with the compiler text after it', () => {
  const dir = backend('syntax', { 'src/index.ts': 'export function f() {\n  return {;\n}\n' });
  const r = run(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^src\/index\.ts:2:\d+: error: /m);
  assert.match(r.stderr, /return \{;/);
});

test('@ones-op/* resolve to the SDK even when node_modules holds the real packages', () => {
  const dir = backend('realpkgs', {
    'node_modules/@ones-op/fetch/package.json': '{"name":"@ones-op/fetch","main":"index.js"}',
    'node_modules/@ones-op/fetch/index.js': "throw new Error('the real package')",
    'src/index.ts': "import { OPFetch } from '@ones-op/fetch'\nimport { env } from '@ones-op/sdk/node'\nimport * as b from '@ones-op/sdk/backend'\nexport const f = () => [OPFetch, env, b]\n",
  });
  const r = run(dir);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(fs.readFileSync(r.out, 'utf8'), /the real package/);
});

test('unknown @ones-op modules and Node built-ins op lacks are errors at the import', () => {
  const dir = backend('unknown', { 'src/index.ts': "import fs from 'fs'\nimport x from '@ones-op/nope'\nexport const f = () => [fs, x]\n" });
  const r = run(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^src\/index\.ts:1:16: error: the Node built-in "fs" is not available in op plugins/m);
  assert.match(r.stderr, /^src\/index\.ts:2:15: error: "@ones-op\/nope" is not provided by op/m);
});

test('globals are injected only when read; node: prefixes and built-ins resolve to the SDK', async () => {
  const dir = backend('globals', {
    'src/index.ts': [
      "import https from 'node:https'",
      "import { randomBytes } from 'crypto'",
      "import { EventEmitter } from 'events'",
      "import * as util from 'node:util'",
      'export async function f() {',
      "  const b = Buffer.from('hi').toString('base64')",
      "  const u = new URL('https://a.test/p?x=1').searchParams.get('x')",
      "  const t = new TextDecoder().decode(new TextEncoder().encode('é'))",
      '  const id = crypto.randomUUID()',
      '  process.nextTick(() => {})',
      '  return { body: { b, u, t, id: id.length, env: process.env, r: randomBytes(4).length, e: typeof EventEmitter, s: util.format(\'%d\', 1), h: typeof https.request } }',
      '}',
      '',
    ].join('\n'),
  });
  const r = run(dir);
  assert.equal(r.code, 0, r.stderr);
  mockOp();
  const saved = {};
  for (const g of ['Buffer', 'URL', 'TextDecoder', 'TextEncoder', 'crypto', 'process']) {
    saved[g] = Object.getOwnPropertyDescriptor(globalThis, g);
  }
  const mod = await import(pathToFileURL(r.out).href);
  const res = await mod.f();
  assert.deepEqual(res.body, { b: 'aGk=', u: '1', t: 'é', id: 36, env: {}, r: 4, e: 'function', s: '1', h: 'function' });
  const text = fs.readFileSync(r.out, 'utf8');
  assert.match(text, /core-js/);
  const plain = run(backend('noglobals', { 'src/index.ts': 'export const f = () => ({ body: 1 })\n' }));
  assert.ok(JSON.parse(plain.stdout).bytes < 200);
});

test('a plugin with only OPFetch and Logger stays small', () => {
  const dir = backend('small', {
    'src/index.ts': "import { OPFetch } from '@ones-op/fetch'\nimport { Logger } from '@ones-op/node-logger'\nexport async function f() { Logger.info('x'); return OPFetch('/users/me') }\n",
  });
  const r = run(dir);
  assert.equal(r.code, 0, r.stderr);
  const { bytes } = JSON.parse(r.stdout);
  assert.ok(bytes < 12000, `${bytes} bytes`);
});
