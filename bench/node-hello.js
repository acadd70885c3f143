// The peer of op's `hello` route for bench/peers.sh: the same function run
// by Node.js the way the original ONES host isolated plugins, in a `vm`
// context: a fresh context per call (`fresh`) or one shared by every call
// (`shared`, no isolation between calls).
//
//   node bench/node-hello.js PORT fresh|shared
"use strict";
const http = require("http");
const vm = require("vm");

const port = Number(process.argv[2] || 18090);
const mode = process.argv[3] || "fresh";

// The plugin's function, as ONES plugin authors write it.
const source = `
  function hello(request) {
    const body = request.body.trim() === "" ? null : JSON.parse(request.body);
    return { status: 200, body: JSON.stringify({ res: "hello world", requestBody: body }) };
  }
  hello(request);
`;
const script = new vm.Script(source);
const shared = vm.createContext({ request: null });

function run(request) {
  if (mode === "shared") {
    shared.request = request;
    return script.runInContext(shared);
  }
  return script.runInContext(vm.createContext({ request }));
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end('{"status":"ok"}');
      }
      try {
        const answer = run({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() });
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(answer.body);
      } catch (err) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ reason: String(err) }));
      }
    });
  })
  .listen(port, "127.0.0.1");
