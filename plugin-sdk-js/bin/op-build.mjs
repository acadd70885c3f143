#!/usr/bin/env node
// op-build: bundles a plugin backend into one ES module for op's JS runner.
//
//   node plugin-sdk-js/bin/op-build.mjs --backend DIR --out FILE [--check-types]
//
// Success: exit 0 and one JSON line {"bundle", "bytes", "ms"} on stdout.
// Failure: exit 1, each error on stderr as `path:line:col: error: message`
// (paths relative to the backend), the compiler's own text after it.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SDK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(SDK_DIR, 'src');

// What `@ones-op/*` and the Node built-ins resolve to, whatever the backend's
// node_modules holds.
export const MODULES = {
  '@ones-op/fetch': 'fetch',
  '@ones-op/node-logger': 'node-logger',
  '@ones-op/node-types': 'node-types',
  '@ones-op/node-ability': 'node-ability',
  '@ones-op/node-fetch': 'node-fetch',
  '@ones-op/node-database': 'node-database',
  '@ones-op/node-fs': 'node-fs',
  '@ones-op/sdk': 'sdk',
  '@ones-op/sdk/node': 'sdk',
  '@ones-op/sdk/backend': 'sdk',
  buffer: 'node/buffer',
  events: 'node/events',
  url: 'node/url',
  util: 'node/util',
  crypto: 'node/crypto',
  http: 'node/http',
  https: 'node/https',
  querystring: 'node/querystring',
  process: 'node/process',
};

// The globals a bundle gets only when its code reads them (esbuild inject).
const GLOBALS = {
  Buffer: 'buffer',
  URL: 'url',
  URLSearchParams: 'url',
  TextEncoder: 'text',
  TextDecoder: 'text',
  crypto: 'crypto',
  process: 'process',
};
const SENTINEL = '__op_free_global_';
const ENTRIES = ['src/index.ts', 'src/index.js', 'index.ts', 'index.js'];
const BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const sdkResolver = {
  name: 'op-sdk',
  setup(build) {
    const names = [...BUILTINS].map(escapeRe).join('|');
    const filter = new RegExp(`^(node:.*|@ones-op/.*|(${names})(/.*)?)$`);
    build.onResolve({ filter }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (MODULES[name]) return { path: path.join(SRC, `${MODULES[name]}.js`) };
      if (name.startsWith('@ones-op/')) {
        const known = Object.keys(MODULES).filter((m) => m.startsWith('@ones-op/')).join(', ');
        return { errors: [{ text: `"${args.path}" is not provided by op (op's SDK has ${known})` }] };
      }
      const base = name.split('/')[0];
      if (BUILTINS.has(base) && (args.path.startsWith('node:') || name === base)) {
        const known = Object.keys(MODULES).filter((m) => !m.startsWith('@')).join(', ');
        return { errors: [{ text: `the Node built-in "${args.path}" is not available in op plugins (op provides ${known})` }] };
      }
      return undefined;
    });
  },
};

function findEntry(backend) {
  for (const e of ENTRIES) {
    const p = path.join(backend, e);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function esbuildLines(messages, kind) {
  if (!messages.length) return Promise.resolve([]);
  return esbuild.formatMessages(messages, { kind, color: false }).then((texts) =>
    messages.map((m, i) => {
      const loc = m.location;
      const where = loc ? `${loc.file}:${loc.line}:${loc.column + 1}` : '<build>';
      const text = m.pluginName && m.pluginName !== 'op-sdk' ? `[${m.pluginName}] ${m.text}` : m.text;
      return `${where}: ${kind}: ${text}\n${texts[i].replace(/\s+$/, '')}`;
    }));
}

function bundleOptions(backend, entry, inject) {
  const define = { global: 'globalThis', 'process.env.NODE_ENV': '"production"' };
  // First pass: a free (unbound) global becomes a sentinel name, so that the
  // output says which globals the live code reads. esbuild's inject alone
  // cannot tell: any CommonJS file in the graph pulls every injected file in.
  if (!inject) for (const name of Object.keys(GLOBALS)) define[name] = SENTINEL + name;
  return {
    absWorkingDir: backend,
    entryPoints: [entry],
    bundle: true,
    write: false,
    outfile: path.join(backend, 'op-bundle.js'),
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['module'],
    resolveExtensions: ['.ts', '.tsx', '.mts', '.js', '.mjs', '.cjs', '.jsx', '.json'],
    inject: inject || [],
    define,
    metafile: false,
    plugins: [sdkResolver],
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  };
}

// Type-checks `entry` with the TypeScript compiler API; returns error lines.
export async function checkTypes(backend, entry) {
  const ts = (await import('typescript')).default;
  const lines = [];
  let errors = 0;
  const report = (d) => {
    const kind = d.category === ts.DiagnosticCategory.Error ? 'error' : d.category === ts.DiagnosticCategory.Warning ? 'warning' : null;
    if (!kind) return;
    if (kind === 'error') errors++;
    const [first, ...rest] = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n');
    let where = 'tsconfig.json';
    if (d.file && d.start !== undefined) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      where = `${path.relative(backend, d.file.fileName) || d.file.fileName}:${line + 1}:${character + 1}`;
    } else if (d.file) {
      where = `${path.relative(backend, d.file.fileName)}:1:1`;
    }
    lines.push(`${where}: ${kind} TS${d.code}: ${first}${rest.length ? '\n' + rest.join('\n') : ''}`);
  };

  let options = {};
  let extraRoots = [];
  const configPath = path.join(backend, 'tsconfig.json');
  if (fs.existsSync(configPath)) {
    const read = ts.readConfigFile(configPath, ts.sys.readFile);
    if (read.error) report(read.error);
    else {
      const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, backend, undefined, configPath);
      options = parsed.options;
      extraRoots = parsed.fileNames.filter((f) => f.endsWith('.d.ts'));
      // "no inputs found" and the like concern tsc's own file list, not this check
      for (const d of parsed.errors) if (d.code !== 18003) report(d);
    }
  }
  for (const k of ['outDir', 'outFile', 'rootDir', 'declaration', 'declarationMap', 'emitDeclarationOnly',
    'composite', 'incremental', 'tsBuildInfoFile', 'sourceMap', 'inlineSourceMap', 'build', 'watch']) {
    delete options[k];
  }
  const req = createRequire(path.join(SDK_DIR, 'package.json'));
  const typesNode = path.dirname(req.resolve('@types/node/package.json'));
  const paths = Object.assign({}, options.paths);
  for (const [name, file] of Object.entries(MODULES)) {
    if (name.startsWith('@ones-op/')) paths[name] = [path.join(SRC, `${file}.d.ts`)];
  }
  Object.assign(options, {
    noEmit: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    paths,
    pathsBasePath: options.pathsBasePath || backend,
    types: ['node'],
    typeRoots: [path.dirname(typesNode)],
    skipLibCheck: true,
    target: options.target || ts.ScriptTarget.ES2022,
    lib: options.lib || ['lib.es2023.d.ts'],
  });
  if (!options.lib.length) options.lib = ['lib.es2023.d.ts'];
  const program = ts.createProgram({ rootNames: [entry, path.join(SRC, 'globals.d.ts'), ...extraRoots], options });
  for (const d of ts.getPreEmitDiagnostics(program)) report(d);
  return { errors, lines };
}

async function bundle(backend, entry) {
  try {
    let result = await esbuild.build(bundleOptions(backend, entry, null));
    const text = result.outputFiles[0].text;
    const used = Object.keys(GLOBALS).filter((name) => text.includes(SENTINEL + name));
    if (used.length) {
      const inject = [...new Set(used.map((name) => path.join(SRC, 'inject', `${GLOBALS[name]}.js`)))];
      result = await esbuild.build(bundleOptions(backend, entry, inject));
    }
    return { ok: true, result, globals: used };
  } catch (e) {
    return { ok: false, e };
  }
}

// Bundles the backend; writes `out` only when everything passed.
export async function build({ backend, out, checkTypes: check = false }) {
  const started = process.hrtime.bigint();
  backend = path.resolve(backend);
  out = path.resolve(out);
  const entry = findEntry(backend);
  if (!entry) {
    return { ok: false, errors: [`${ENTRIES[0]}:1:1: error: no entry file in ${backend} (looked for ${ENTRIES.join(', ')})`] };
  }
  const bundling = bundle(backend, entry);
  // tsc runs while esbuild's own process bundles
  const types = check ? await checkTypes(backend, entry) : { errors: 0, lines: [] };
  const bundled = await bundling;
  const errors = [];
  if (!bundled.ok) {
    if (bundled.e && Array.isArray(bundled.e.errors)) errors.push(...(await esbuildLines(bundled.e.errors, 'error')));
    else errors.push(`<build>: error: ${bundled.e && bundled.e.message ? bundled.e.message : bundled.e}`);
  }
  // esbuild already reported syntax errors; keep the type checker's other lines
  if (!bundled.ok && types.errors) errors.push(...types.lines.filter((l) => !/ error TS1\d\d\d:/.test(l)));
  else errors.push(...types.lines);
  if (!bundled.ok || types.errors) return { ok: false, errors };
  const code = bundled.result.outputFiles[0].contents;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  const ms = Number((process.hrtime.bigint() - started) / 1000000n);
  return { ok: true, bundle: out, bytes: code.length, ms, globals: bundled.globals, warnings: errors };
}

function usage(msg) {
  process.stderr.write(`op-build: ${msg}\nusage: op-build.mjs --backend DIR --out FILE [--check-types]\n`);
  process.exit(1);
}

async function main(argv) {
  let backend;
  let out;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') backend = argv[++i];
    else if (a === '--out') out = argv[++i];
    else if (a === '--check-types') check = true;
    else if (a.startsWith('--backend=')) backend = a.slice(10);
    else if (a.startsWith('--out=')) out = a.slice(6);
    else usage(`unknown argument ${a}`);
  }
  if (!backend || !out) usage('--backend and --out are required');
  if (!fs.existsSync(backend) || !fs.statSync(backend).isDirectory()) usage(`no backend directory ${backend}`);
  const r = await build({ backend, out, checkTypes: check });
  if (!r.ok) {
    process.stderr.write(r.errors.join('\n') + '\n');
    process.exit(1);
  }
  if (r.warnings.length) process.stderr.write(r.warnings.join('\n') + '\n');
  process.stdout.write(JSON.stringify({ bundle: r.bundle, bytes: r.bytes, ms: r.ms }) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`<build>: error: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}
