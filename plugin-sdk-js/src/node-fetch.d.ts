/// <reference path="./globals.d.ts" />
import type { FetchError, HeaderValue, QueryParams } from './fetch';

export interface LegacyFetchOptions {
  path?: string;
  url?: string;
  method?: string;
  root?: boolean;
  teamUUID?: string;
  body?: any;
  headers?: Record<string, HeaderValue>;
  query?: QueryParams;
  params?: QueryParams;
  timeout?: number;
}

export interface LegacyFetchResult<T = any> {
  /** 0 on a transport failure. */
  statusCode: number;
  /** Parsed JSON when the answer is JSON, text for a text type, else the bytes. */
  body: T;
  headers: Record<string, string>;
  /** Set on a transport failure. */
  error?: FetchError;
}

/** Calls the ONES API; never rejects. */
export declare function fetchONES<T = any>(options: LegacyFetchOptions): Promise<LegacyFetchResult<T>>;
/** Calls an outside host (absolute URL); never rejects. */
export declare function fetchHttp<T = any>(options: LegacyFetchOptions): Promise<LegacyFetchResult<T>>;
