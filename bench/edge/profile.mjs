// Where does each worker spend its CPU on the tap path? Samples both workers
// with V8's CPU profiler through workerd's inspector while wrk loads them,
// and prints the top functions by self time.
//
//   CARGO_PROFILE_WASM_RELEASE_STRIP=false scripts/build-edge.sh   # keep Wasm function names
//   node bench/edge/profile.mjs [--seconds 5] [--top 25]

import WebSocket from "ws";
import { startWorkerd, wrk } from "./harness.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 5);
const TOP = arg("top", 25);
const inspector = "127.0.0.1:9339";

const workerd = await startWorkerd({ inspector });
const targets = await (await fetch(`http://${inspector}/json/list`)).json();

function session(url) {
  const ws = new WebSocket(url);
  let next = 1;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const ready = new Promise((res) => ws.on("open", res));
  const send = (method, params = {}) =>
    new Promise((res) => {
      const id = next++;
      pending.set(id, res);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { ready, send, close: () => ws.close() };
}

function summarise(profile) {
  const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  const selfTime = new Map();
  const hits = new Map();
  for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  let total = 0;
  for (const node of profile.nodes) {
    const n = hits.get(node.id) ?? 0;
    total += n;
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}`.trim();
    selfTime.set(name, (selfTime.get(name) ?? 0) + n);
  }
  return [...selfTime.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([name, n]) => `${((100 * n) / total).toFixed(1).padStart(5)}%  ${(n * interval / 1000).toFixed(0).padStart(6)} ms  ${name}`);
}

for (const kind of ["rust", "js"]) {
  const target = targets.find((t) => t.id?.includes(kind) || t.title?.includes(kind));
  if (!target) throw new Error(`no inspector target for ${kind}: ${JSON.stringify(targets)}`);
  const s = session(target.webSocketDebuggerUrl);
  await s.ready;
  await s.send("Profiler.enable");
  await s.send("Profiler.setSamplingInterval", { interval: 200 });
  wrk(workerd.urls[kind], 2); // warm-up
  await s.send("Profiler.start");
  const res = wrk(workerd.urls[kind], SECONDS);
  const { result } = await s.send("Profiler.stop");
  s.close();
  console.log(`\n${kind}: ${res.rps.toFixed(0)} req/s under the profiler; top ${TOP} by self time`);
  for (const line of summarise(result.profile)) console.log(line);
}
workerd.proc.kill("SIGKILL");
