/// <reference path="./globals.d.ts" />
import type { Buffer } from 'buffer';

type Encoding = 'utf8' | 'utf-8' | 'base64' | 'hex' | 'latin1' | 'binary' | 'ascii' | 'ucs2' | 'utf16le';
type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView;

export interface Stats {
  size: number;
  mtimeMs: number;
  mtime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface Dirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** Node's fs.promises, limited to the plugin's workspace: a relative path is relative to it; a path outside it fails with "Out of the accessible path range". */
export interface FsPromises {
  readFile(path: string): Promise<Buffer>;
  readFile(path: string, options: Encoding | { encoding: Encoding }): Promise<string>;
  writeFile(path: string, data: Data, options?: Encoding | { encoding?: Encoding; flag?: 'w' | 'a' }): Promise<void>;
  appendFile(path: string, data: Data, options?: Encoding | { encoding?: Encoding }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  stat(path: string): Promise<Stats>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<string | undefined>;
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  access(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export declare const WORKSPACE: '/workspace';
export declare function resolveWorkspacePath(path: string, syscall?: string): string;
export declare const promises: FsPromises;
export declare const readFile: FsPromises['readFile'];
export declare const writeFile: FsPromises['writeFile'];
export declare const appendFile: FsPromises['appendFile'];
export declare const readdir: FsPromises['readdir'];
export declare const stat: FsPromises['stat'];
export declare const mkdir: FsPromises['mkdir'];
export declare const rm: FsPromises['rm'];
export declare const rename: FsPromises['rename'];
export declare const access: FsPromises['access'];
export declare const unlink: FsPromises['unlink'];
declare const fs: FsPromises & { promises: FsPromises };
export default fs;
