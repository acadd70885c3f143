// printf-style formatting shared by Logger and util.format, and a small,
// single-line util.inspect.

function quote(s) {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function keyText(k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}

export function inspect(value, options) {
  const depth = options && typeof options.depth === 'number' ? options.depth : 2;
  const seen = [];
  function show(v, level, nested) {
    switch (typeof v) {
      case 'string': return nested ? quote(v) : v;
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return `${v}n`;
      case 'boolean': case 'undefined': return String(v);
      case 'symbol': return v.toString();
      case 'function': return `[Function: ${v.name || '(anonymous)'}]`;
    }
    if (v === null) return 'null';
    if (v instanceof Error) return v.stack ? String(v.stack).includes(v.message) ? String(v.stack) : `${v.name}: ${v.message}\n${v.stack}` : `${v.name}: ${v.message}`;
    if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (seen.includes(v)) return '[Circular]';
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = (v.constructor && v.constructor.name) || 'TypedArray';
      const items = Array.prototype.slice.call(v, 0, 50).map(String);
      if (v.length > 50) items.push(`... ${v.length - 50} more items`);
      return `${name}(${v.length}) [ ${items.join(', ')} ]`;
    }
    if (level > depth) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.push(v);
    try {
      if (Array.isArray(v)) {
        const items = v.slice(0, 100).map((x) => show(x, level + 1, true));
        if (v.length > 100) items.push(`... ${v.length - 100} more items`);
        return items.length ? `[ ${items.join(', ')} ]` : '[]';
      }
      if (v instanceof Map) {
        const items = [...v].map(([k, x]) => `${show(k, level + 1, true)} => ${show(x, level + 1, true)}`);
        return `Map(${v.size}) {${items.length ? ` ${items.join(', ')} ` : ''}}`;
      }
      if (v instanceof Set) {
        const items = [...v].map((x) => show(x, level + 1, true));
        return `Set(${v.size}) {${items.length ? ` ${items.join(', ')} ` : ''}}`;
      }
      if (typeof v.then === 'function') return 'Promise { <pending> }';
      const items = Object.keys(v).map((k) => `${keyText(k)}: ${show(v[k], level + 1, true)}`);
      const proto = Object.getPrototypeOf(v);
      const name = proto && proto !== Object.prototype && proto.constructor && proto.constructor.name;
      const body = items.length ? `{ ${items.join(', ')} }` : '{}';
      return name ? `${name} ${body}` : body;
    } finally {
      seen.pop();
    }
  }
  return show(value, 0, false);
}

function json(v) {
  try {
    return JSON.stringify(v);
  } catch (e) {
    return '[Circular]';
  }
}

// Plain objects and arrays are shown as JSON: QuickJS's native
// JSON.stringify is many times cheaper than walking them in JS, and a log
// line is on the path of every call. Anything else (errors, maps, class
// instances, cycles) goes through inspect().
function plain(a) {
  if (Array.isArray(a)) return true;
  const proto = Object.getPrototypeOf(a);
  return proto === Object.prototype || proto === null;
}

function show(a) {
  if (typeof a === 'string') return a;
  if (typeof a === 'object' && a !== null && plain(a)) {
    try {
      const text = JSON.stringify(a);
      if (text !== undefined) return text;
    } catch (e) {
      // a cycle: inspect marks it
    }
  }
  return inspect(a);
}

export function format(args) {
  let i = 0;
  let out = '';
  if (typeof args[0] === 'string' && args[0].indexOf('%') < 0) {
    i = 1;
    out = args[0];
  } else if (typeof args[0] === 'string') {
    i = 1;
    out = args[0].replace(/%[sdifjoOc%]/g, (m) => {
      if (m === '%%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      switch (m) {
        case '%s': return typeof a === 'string' ? a : typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null && !(a instanceof Error) ? inspect(a, { depth: 1 }) : String(a);
        case '%d': return typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null ? 'NaN' : String(Number(a));
        case '%i': return typeof a === 'bigint' ? `${a}n` : String(parseInt(a, 10));
        case '%f': return String(parseFloat(a));
        case '%j': return json(a);
        case '%c': return '';
        default: return inspect(a, { depth: 4 });
      }
    });
  }
  for (; i < args.length; i++) {
    const a = args[i];
    out += (out === '' && i === 0 ? '' : ' ') + show(a);
  }
  return out;
}
