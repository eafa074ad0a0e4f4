// Edge benchmark: the Rust worker against a JavaScript worker doing the same
// job, both in one `workerd serve` process (not `wrangler dev`, whose Node
// proxy would be the bottleneck), loaded by wrk from a second process.
// Prints a table: requests/s, p50, p99, ratios, Rust bundle size.
//
//   node bench/edge/bench.mjs [--duration 10] [--connections 32] [--rounds 2]

import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { BANDS, root, startWorkerd, wrk } from "./harness.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const DURATION = arg("duration", 10);
const CONNECTIONS = arg("connections", 32);
const ROUNDS = arg("rounds", 2);

const workerd = await startWorkerd();
const results = { js: [], rust: [] };
for (const kind of ["js", "rust"]) wrk(workerd.urls[kind], 3, CONNECTIONS); // warm-up: JIT, isolate caches
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of r % 2 === 0 ? ["js", "rust"] : ["rust", "js"]) {
    const res = wrk(workerd.urls[kind], DURATION, CONNECTIONS);
    results[kind].push(res);
    console.error(`round ${r + 1} ${kind}: ${res.rps.toFixed(0)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms ${res.errors}`);
  }
}
const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
const js = { rps: mean(results.js, "rps"), p50: mean(results.js, "p50"), p99: mean(results.js, "p99") };
const rust = { rps: mean(results.rust, "rps"), p50: mean(results.rust, "p50"), p99: mean(results.rust, "p99") };

const wasm = readFileSync(join(root, "edge-worker/build/index_bg.wasm"));
const glue = readFileSync(join(root, "edge-worker/build/index.js"));
const kb = (n) => (n / 1024).toFixed(1);
const gz = (b) => gzipSync(b, { level: 9 }).length;

const row = (cells) => "| " + cells.join(" | ") + " |";
console.log(`\nEdge benchmark — workerd serve, wrk -t2 -c${CONNECTIONS}, ${DURATION}s x ${ROUNDS} rounds, ${BANDS} bands, KV hit path\n`);
console.log(row(["worker", "requests/s", "p50 (ms)", "p99 (ms)"]));
console.log(row(["---", "---:", "---:", "---:"]));
console.log(row(["JavaScript", js.rps.toFixed(0), js.p50.toFixed(2), js.p99.toFixed(2)]));
console.log(row(["Rust/Wasm", rust.rps.toFixed(0), rust.p50.toFixed(2), rust.p99.toFixed(2)]));
console.log(row(["Rust/JS", (rust.rps / js.rps).toFixed(2) + "x", (rust.p50 / js.p50).toFixed(2) + "x", (rust.p99 / js.p99).toFixed(2) + "x"]));
console.log(`\nTargets: throughput ratio >= 1.0 (${rust.rps / js.rps >= 1 ? "met" : "MISSED"}), Rust p99 <= JS p99 (${rust.p99 <= js.p99 ? "met" : "MISSED"})\n`);
console.log(row(["Rust bundle", "raw (KB)", "gzip -9 (KB)"]));
console.log(row(["---", "---:", "---:"]));
console.log(row(["index_bg.wasm", kb(wasm.length), kb(gz(wasm))]));
console.log(row(["index.js (glue)", kb(glue.length), kb(gz(glue))]));
const total = gz(wasm) + gz(glue);
console.log(row(["total", kb(wasm.length + glue.length), kb(total)]));
console.log(`\nTarget: bundle <= 150 KB gzipped (${total <= 150 * 1024 ? "met" : "MISSED"})`);
workerd.proc.kill("SIGKILL");
