// @ones-op/node-fs: Node's fs.promises, limited to the plugin's workspace
// (its package's workspace/ folder, which op gives the plugin as
// /workspace). A relative path is relative to the workspace; an absolute one
// must lie inside /workspace; a path that leaves it fails with ONES's
// message "Out of the accessible path range". Non-string paths are refused.
import { op } from './internal/op.js';
import { Buffer } from './node/buffer.js';

export const WORKSPACE = '/workspace';

const MESSAGES = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  ENOSPC: 'no space left on device (the workspace quota is reached)',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  EXDEV: 'cross-device link not permitted',
  EIO: 'i/o error',
};

/** The workspace path `p` names, or a throw. */
export function resolveWorkspacePath(p, syscall = 'open') {
  if (typeof p !== 'string') {
    const got = p === null ? 'null' : Array.isArray(p) ? 'an array' : typeof p;
    const err = new TypeError(`The "path" argument must be of type string. Received ${got}`);
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  if (p.includes('\0')) {
    const err = new TypeError('The "path" argument must not contain null bytes');
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  let rest = p;
  if (p === WORKSPACE || p.startsWith(`${WORKSPACE}/`)) rest = p.slice(WORKSPACE.length);
  else if (p.startsWith('/')) throw outOfRange(p, syscall);
  const parts = [];
  for (const segment of rest.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) throw outOfRange(p, syscall);
      parts.pop();
    } else {
      parts.push(segment);
    }
  }
  return parts.length ? `${WORKSPACE}/${parts.join('/')}` : WORKSPACE;
}

function outOfRange(p, syscall) {
  const err = new Error('Out of the accessible path range');
  err.code = 'EACCES';
  err.path = p;
  err.syscall = syscall;
  return err;
}

function run(syscall, p, fn) {
  try {
    return fn();
  } catch (e) {
    if (e && typeof e === 'object' && typeof e.tag === 'string' && !(e instanceof Error)) {
      const what = MESSAGES[e.tag] || e.message;
      const err = new Error(`${e.tag}: ${what}, ${syscall} '${p}'`);
      err.code = e.tag;
      err.syscall = syscall;
      err.path = p;
      throw err;
    }
    throw e;
  }
}

function natives() {
  return op().fs;
}

function encodingOf(options) {
  if (typeof options === 'string') return options;
  return options && options.encoding ? options.encoding : undefined;
}

function dataBytes(data, options) {
  if (typeof data === 'string') {
    const encoding = encodingOf(options);
    return encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? new Uint8Array(Buffer.from(data, encoding)) : data;
  }
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const err = new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
  err.code = 'ERR_INVALID_ARG_TYPE';
  throw err;
}

class Stats {
  constructor(s) {
    this.size = s.size;
    this.mtimeMs = s.mtimeMs;
    this.mtime = new Date(s.mtimeMs);
    this._file = s.isFile;
    this._dir = s.isDirectory;
  }
  isFile() {
    return this._file;
  }
  isDirectory() {
    return this._dir;
  }
  isSymbolicLink() {
    return false;
  }
}

class Dirent {
  constructor(name, dir) {
    this.name = name;
    this._dir = dir;
  }
  isFile() {
    return !this._dir;
  }
  isDirectory() {
    return this._dir;
  }
  isSymbolicLink() {
    return false;
  }
}

async function readFile(p, options) {
  const at = resolveWorkspacePath(p, 'open');
  const bytes = run('open', p, () => natives().readFile(at));
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const encoding = encodingOf(options);
  return encoding ? buffer.toString(encoding) : buffer;
}

async function writeFile(p, data, options) {
  const at = resolveWorkspacePath(p, 'open');
  const bytes = dataBytes(data, options);
  const append = !!(options && typeof options === 'object' && options.flag === 'a');
  run('open', p, () => natives().writeFile(at, bytes, append));
}

async function appendFile(p, data, options) {
  const at = resolveWorkspacePath(p, 'open');
  const bytes = dataBytes(data, options);
  run('open', p, () => natives().writeFile(at, bytes, true));
}

async function readdir(p, options) {
  const at = resolveWorkspacePath(p, 'scandir');
  const entries = run('scandir', p, () => natives().readdir(at));
  if (options && options.withFileTypes) return entries.map(([name, dir]) => new Dirent(name, dir));
  return entries.map(([name]) => name);
}

async function stat(p) {
  const at = resolveWorkspacePath(p, 'stat');
  return new Stats(run('stat', p, () => natives().stat(at)));
}

async function mkdir(p, options) {
  const at = resolveWorkspacePath(p, 'mkdir');
  const recursive = !!(options && options.recursive);
  run('mkdir', p, () => natives().mkdir(at, recursive));
  return recursive ? at : undefined;
}

async function rm(p, options) {
  const at = resolveWorkspacePath(p, 'rm');
  if (at === WORKSPACE) throw outOfRange(p, 'rm');
  try {
    run('rm', p, () => natives().rm(at, !!(options && options.recursive)));
  } catch (err) {
    if (!(options && options.force && err.code === 'ENOENT')) throw err;
  }
}

async function rename(from, to) {
  const a = resolveWorkspacePath(from, 'rename');
  const b = resolveWorkspacePath(to, 'rename');
  run('rename', from, () => natives().rename(a, b));
}

async function access(p) {
  await stat(p);
}

async function unlink(p) {
  await rm(p);
}

export const promises = { readFile, writeFile, appendFile, readdir, stat, mkdir, rm, rename, access, unlink };
export { readFile, writeFile, appendFile, readdir, stat, mkdir, rm, rename, access, unlink };
export default { promises, ...promises };
