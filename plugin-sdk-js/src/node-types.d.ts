/// <reference path="./globals.d.ts" />

/** A call of a plugin function (a route, a hook or a lifecycle function). */
export interface PluginRequest<T = any> {
  /** The parsed JSON body; the text when it is not JSON; undefined when empty. */
  body: T;
  /** Request headers. Look-ups ignore case: `headers['Ones-User-Id']` and `headers['ones-user-id']` agree; a repeated header's values are joined with ', '. */
  headers: Record<string, string>;
  /** `:name` segments of the route's url. */
  params: Record<string, string>;
  query: Record<string, string>;
  method: string;
  /** The path with its query. */
  url: string;
  /** The path without the query. */
  path: string;
  /** The body's bytes. */
  rawBody?: Uint8Array;
}

/** A plugin function's answer. A string body is sent as it is, bytes as bytes, anything else as JSON. */
export interface PluginResponse<T = any> {
  statusCode?: number;
  headers?: Record<string, string | string[]>;
  body?: T;
}
