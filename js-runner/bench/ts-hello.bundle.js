// ../../../work/wt-sdk/plugin-sdk-js/src/internal/op.js
function op() {
  const natives = globalThis.__op;
  if (!natives) {
    throw new Error("op natives (globalThis.__op) are missing: this code runs inside op, or under plugin-sdk-js/testing.mjs");
  }
  return natives;
}

// ../../../work/wt-sdk/plugin-sdk-js/src/internal/format.js
function quote(s) {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
}
function keyText(k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}
function inspect(value, options) {
  const depth = options && typeof options.depth === "number" ? options.depth : 2;
  const seen = [];
  function show(v, level2, nested) {
    switch (typeof v) {
      case "string":
        return nested ? quote(v) : v;
      case "number":
        return Object.is(v, -0) ? "-0" : String(v);
      case "bigint":
        return `${v}n`;
      case "boolean":
      case "undefined":
        return String(v);
      case "symbol":
        return v.toString();
      case "function":
        return `[Function: ${v.name || "(anonymous)"}]`;
    }
    if (v === null) return "null";
    if (v instanceof Error) return v.stack ? String(v.stack).includes(v.message) ? String(v.stack) : `${v.name}: ${v.message}
${v.stack}` : `${v.name}: ${v.message}`;
    if (v instanceof Date) return isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (seen.includes(v)) return "[Circular]";
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor && v.constructor.name || "TypedArray";
      const items = Array.prototype.slice.call(v, 0, 50).map(String);
      if (v.length > 50) items.push(`... ${v.length - 50} more items`);
      return `${name}(${v.length}) [ ${items.join(", ")} ]`;
    }
    if (level2 > depth) return Array.isArray(v) ? "[Array]" : "[Object]";
    seen.push(v);
    try {
      if (Array.isArray(v)) {
        const items2 = v.slice(0, 100).map((x) => show(x, level2 + 1, true));
        if (v.length > 100) items2.push(`... ${v.length - 100} more items`);
        return items2.length ? `[ ${items2.join(", ")} ]` : "[]";
      }
      if (v instanceof Map) {
        const items2 = [...v].map(([k, x]) => `${show(k, level2 + 1, true)} => ${show(x, level2 + 1, true)}`);
        return `Map(${v.size}) {${items2.length ? ` ${items2.join(", ")} ` : ""}}`;
      }
      if (v instanceof Set) {
        const items2 = [...v].map((x) => show(x, level2 + 1, true));
        return `Set(${v.size}) {${items2.length ? ` ${items2.join(", ")} ` : ""}}`;
      }
      if (typeof v.then === "function") return "Promise { <pending> }";
      const items = Object.keys(v).map((k) => `${keyText(k)}: ${show(v[k], level2 + 1, true)}`);
      const proto = Object.getPrototypeOf(v);
      const name = proto && proto !== Object.prototype && proto.constructor && proto.constructor.name;
      const body = items.length ? `{ ${items.join(", ")} }` : "{}";
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
    return "[Circular]";
  }
}
function format(args) {
  let i = 0;
  let out = "";
  if (typeof args[0] === "string") {
    i = 1;
    out = args[0].replace(/%[sdifjoOc%]/g, (m) => {
      if (m === "%%") return "%";
      if (i >= args.length) return m;
      const a = args[i++];
      switch (m) {
        case "%s":
          return typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : typeof a === "object" && a !== null && !(a instanceof Error) ? inspect(a, { depth: 1 }) : String(a);
        case "%d":
          return typeof a === "bigint" ? `${a}n` : typeof a === "object" && a !== null ? "NaN" : String(Number(a));
        case "%i":
          return typeof a === "bigint" ? `${a}n` : String(parseInt(a, 10));
        case "%f":
          return String(parseFloat(a));
        case "%j":
          return json(a);
        case "%c":
          return "";
        default:
          return inspect(a, { depth: 4 });
      }
    });
  }
  for (; i < args.length; i++) {
    const a = args[i];
    out += (out === "" && i === 0 ? "" : " ") + (typeof a === "string" ? a : inspect(a));
  }
  return out;
}

// ../../../work/wt-sdk/plugin-sdk-js/src/node-logger.js
function level(name) {
  return (...args) => {
    op().log(name, format(args));
  };
}
var Logger = /* @__PURE__ */ (() => ({
  debug: level("debug"),
  info: level("info"),
  log: level("info"),
  warn: level("warning"),
  warning: level("warning"),
  error: level("error")
}))();

// src/index.ts
async function jackFunc(request) {
  Logger.info("[Plugin] body %s", request.body);
  return { body: { res: "hello world", requestBody: request.body } };
}
async function quiet(request) {
  return { body: { res: "hello world", requestBody: request.body } };
}
function plain() {
  return { body: "ok" };
}
export {
  jackFunc,
  plain,
  quiet
};
