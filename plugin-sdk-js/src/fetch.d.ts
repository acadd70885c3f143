/// <reference path="./globals.d.ts" />

export type Method =
  | 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'
  | 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head' | 'options';

export type HeaderValue = string | string[] | number | boolean | null | undefined;

export type QueryParams =
  | Record<string, unknown>
  | URLSearchParams
  | Array<[string, string]>
  | string;

export interface OPFetchConfig<D = any> {
  /** A ONES API path (below the API base) or, for Fetch, an absolute URL. */
  path?: string;
  /** Same as `path`. */
  url?: string;
  /** Joined in front of a relative `path`/`url`. */
  baseURL?: string;
  method?: Method | string;
  headers?: Record<string, HeaderValue>;
  params?: QueryParams;
  /** Same as `params`. */
  query?: QueryParams;
  /** Request body: a string, bytes, URLSearchParams, or anything JSON. */
  body?: D;
  /** Same as `body`. */
  data?: D;
  /** true (default): as the plugin's super-admin; false: as the calling user. */
  root?: boolean;
  /** The team to act in; '' or absent lets op pick the instance's team. */
  teamUUID?: string;
  /** Milliseconds. */
  timeout?: number;
  /** 'arraybuffer' (also 'blob', 'bytes'): data is a Uint8Array; 'text': a string; default: parsed JSON when it parses. */
  responseType?: 'json' | 'text' | 'arraybuffer' | 'blob' | 'bytes';
  /** Which statuses resolve (default 2xx); null resolves every status. */
  validateStatus?: ((status: number) => boolean) | null;
}

/** Serves both the ONES reading (`statusCode`, `body`) and the axios one (`status`, `data`). */
export interface OPFetchResponse<T = any> {
  statusCode: number;
  status: number;
  statusText: string;
  /** Lower-case names; a repeated header's values are joined with ', '. */
  headers: Record<string, string>;
  body: T;
  data: T;
  config: OPFetchConfig;
}

export interface OPFetchInstance {
  <T = any>(config: OPFetchConfig): Promise<OPFetchResponse<T>>;
  <T = any>(pathOrUrl: string, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  request<T = any>(config: OPFetchConfig): Promise<OPFetchResponse<T>>;
  get<T = any>(path: string, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  delete<T = any>(path: string, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  head<T = any>(path: string, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  options<T = any>(path: string, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  post<T = any>(path: string, data?: any, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  put<T = any>(path: string, data?: any, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  patch<T = any>(path: string, data?: any, config?: OPFetchConfig): Promise<OPFetchResponse<T>>;
  /** A new instance whose calls start from `defaults`. */
  create(defaults?: OPFetchConfig): OPFetchInstance;
  readonly defaults: OPFetchConfig;
}

/** The transport failures of op's host (`fetch-error` in the WIT), and axios's codes for a refused status. */
export type FetchErrorCode =
  | 'invalid-request' | 'no-credentials' | 'no-team' | 'not-allowed' | 'timeout'
  | 'connection-failed' | 'too-large' | 'too-many-calls'
  | 'ERR_BAD_REQUEST' | 'ERR_BAD_RESPONSE';

export declare class FetchError<T = any> extends Error {
  readonly isFetchError: true;
  readonly isAxiosError: true;
  code?: FetchErrorCode | string;
  /** The answer's status (undefined on a transport failure). */
  status?: number;
  /** The answer, when there was one. */
  response?: OPFetchResponse<T>;
  config?: OPFetchConfig;
}

export declare function isFetchError<T = any>(e: unknown): e is FetchError<T>;

/** Calls the ONES API: `OPFetch(config)`, `OPFetch(path, config)`, `OPFetch.get(path)`, ... Non-2xx answers reject with a FetchError. */
export declare const OPFetch: OPFetchInstance;

/** Calls an outside host (absolute URLs only; op's outbound allow-list applies). */
export declare const Fetch: OPFetchInstance;

/**
 * A stand-in for the ONES OpenAPI token: `op-openapi-token:<teamID>`. op's
 * host replaces a bearer token of exactly that form with the real token on
 * its way to ONES; the real token never enters the plugin.
 */
export declare function getOpenApiToken(options?: { teamID?: string }): Promise<string>;

export interface FetchAsAdminOptions<D = any> {
  method?: Method | string;
  /** `teamID` is also the team whose token is used (default: the instance's team). */
  params?: Record<string, unknown> & { teamID?: string };
  data?: D;
  headers?: Record<string, HeaderValue>;
  timeout?: number;
  responseType?: OPFetchConfig['responseType'];
}

/** Calls ONES OpenAPI v2 (`/openapi/v2/...`) with the OpenAPI token stand-in, as the super-admin. */
export declare function FetchAsAdmin<T = any>(path: string, options?: FetchAsAdminOptions): Promise<OPFetchResponse<T>>;

export default OPFetch;
