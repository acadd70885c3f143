// Checks of the runner's side of CONTRACT.md (run by js_spike).
const TEAM_AT_TOP = globalThis.onesEnv.teamUUID;
const RANDOM_AT_TOP = Math.random();
const NOW_AT_TOP = Date.now();
let randomBytesAtTop;
try { __op.randomBytes(4); randomBytesAtTop = 'no error'; } catch (e) { randomBytesAtTop = `${e.name}`; }
let fetchAtTop;
try { __op.fetch({ method: 'GET', url: '/x', headers: [], query: [], body: '', root: true }); } catch (e) { fetchAtTop = e.tag; }
// A timer set at top level is dropped after it.
setInterval(() => { throw new Error('top-level interval ran'); }, 1);

// (js_spike puts hello.js before this file.)

export async function hazards(request) {
  await null;
  return { body: {
    random: Math.random(), randomAtTop: RANDOM_AT_TOP,
    now: Date.now(), nowAtTop: NOW_AT_TOP,
    teamAtTop: TEAM_AT_TOP, teamNow: globalThis.onesEnv.teamUUID, orgUUID: onesEnv.orgUUID,
    instanceId: onesEnv.instanceId, config: onesEnv.config,
    userId: request.headers['Ones-User-Id'], userId2: request.headers['ones-user-id'],
    hasUser: 'ONES-USER-ID' in request.headers,
    randomBytesAtTop, fetchAtTop, bytes: __op.randomBytes(8).length,
  } };
}

export function request(request) {
  return { body: {
    method: request.method, url: request.url, path: request.path, query: request.query,
    params: request.params, body: request.body, raw: Array.from(request.rawBody),
    json: JSON.parse(JSON.stringify(request)),
  } };
}

export function utf8() {
  const b = __op.utf8Encode('h\u00e9\ud83d\ude00\ud800x');
  let fatal;
  try { __op.utf8Decode(new Uint8Array([0xff]), true); } catch (e) { fatal = e.name; }
  return { body: {
    bytes: Array.from(b), back: __op.utf8Decode(b, false), lossy: __op.utf8Decode(new Uint8Array([0x61, 0xff]).buffer, false), fatal,
  } };
}

export function binary() {
  return { statusCode: 201, headers: { 'X-Two': ['a', 'b'] }, body: new Uint8Array([0, 1, 2, 255]) };
}
export function text() { return { headers: { 'Content-Type': 'text/plain' }, body: 'plain text' }; }
export function nothing() {}

export async function timers() {
  const order = [];
  const t0 = Date.now();
  setTimeout(() => order.push('timeout 20'), 20);
  const cancelled = setTimeout(() => order.push('cancelled'), 5);
  clearTimeout(cancelled);
  setImmediate(() => order.push('immediate'));
  queueMicrotask(() => order.push('microtask'));
  let n = 0;
  await new Promise((resolve) => {
    const iv = setInterval(() => { order.push(`interval ${++n}`); if (n === 3) { clearInterval(iv); resolve(); } }, 5);
  });
  await new Promise((r) => setTimeout(r, 25));
  setTimeout(() => order.push('left behind'), 1000);
  return { body: { order, elapsed: Date.now() - t0 } };
}

export async function console_() {
  console.log('%s is %d years and %i, %f; %j %o %%', 'Bob', 42.5, 42.5, '1.5', { a: 1 }, [1], 'extra', { b: 2 });
  console.warn('cycle', (() => { const o = { x: 1 }; o.self = o; return o; })());
  console.error(new TypeError('shown'));
  return { body: 'logged' };
}

export async function getUserme() {
  try {
    const r = __op.fetch({ method: 'GET', url: '/users/me', headers: [['x-a', '1']], query: [], body: new Uint8Array([1]), root: false, teamUUID: '' });
    return { body: { status: r.status, isBytes: r.body instanceof Uint8Array } };
  } catch (e) {
    return { statusCode: 502, body: { tag: e.tag, message: e.message } };
  }
}

export async function throws() { throw new Error('boom'); }
export async function rejectsWarning() {
  return Promise.reject({ statusCode: 400, body: { reason: 'bad input', type: 'warning', model: 'plugin.bad_input' } });
}
export function throwsOnes() { throw { status: 403, reason: 'nope', model: 'plugin.forbidden' }; }
export function throwsString() { throw 'plain string'; }
export function neverSettles() { return new Promise(() => {}); }
export async function spins() { for (;;) {} }
