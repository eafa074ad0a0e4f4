// Shared by bench.mjs and profile.mjs: one `workerd serve` process running the
// Rust worker and the JavaScript baseline side by side, each with the same
// in-memory KV and queue stand-ins, and wrk to load them.

import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BANDS = 100;

const ORG = "0190f000-0000-7000-8000-000000000001";
const EVENT = "0190f000-0000-7000-8000-000000000002";
const now = Math.floor(Date.now() / 1000);
export const eventRecord = {
  v: 1, rev: 1, org_id: ORG, status: "active",
  default_url: "https://example.com/sparkmotion-demo",
  fallback_url: "https://example.com/fallback",
  windows: [
    { starts_at: now - 86400, ends_at: now - 3600, url: "https://example.com/pre-show", label: "pre-show" },
    { starts_at: now + 3600, ends_at: now + 86400, url: "https://example.com/recap", label: "recap" },
  ],
};
const bandId = (i) => `DEMO${String(i).padStart(4, "0")}`;

// KV and Queue stand-ins, in the same workerd process: an in-memory map that
// speaks workerd's KV binding protocol, and a queue sink that acknowledges
// sends. Both workers get the same ones, so the comparison is the workers'.
const KV_SERVICE = `import seed from "seed.json";
const store = new Map(Object.entries(seed));
export default {
  async fetch(req) {
    const url = new URL(req.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (req.method !== "GET") return new Response("read-only", { status: 405 });
    const value = store.get(key);
    return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
  },
};`;
const QUEUE_SERVICE = `let sent = 0;
export default {
  async fetch(req) {
    await req.arrayBuffer();
    sent++;
    return Response.json({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: 0 } } });
  },
};`;

function capnpConfig(dir, ports) {
  const seed = { [`event:${EVENT}`]: JSON.stringify(eventRecord) };
  for (let i = 1; i <= BANDS; i++) {
    seed[`band:${bandId(i)}`] = JSON.stringify({ v: 1, rev: 1, event_id: EVENT, org_id: ORG, status: "active" });
  }
  writeFileSync(join(dir, "seed.json"), JSON.stringify(seed));
  writeFileSync(join(dir, "kv.js"), KV_SERVICE);
  writeFileSync(join(dir, "queue.js"), QUEUE_SERVICE);
  const bindings = `[
    (name = "BANDS", kvNamespace = "kv"),
    (name = "TAPS", queue = "queue"),
    (name = "FALLBACK_URL", text = "https://example.com/fallback"),
    (name = "ORIGIN_URL", text = ""),
    (name = "EVENT_CACHE_SECONDS", text = "5"),
  ]`;
  // capnp embeds are read relative to the config, so the workers are copied next to it.
  copyFileSync(join(root, "edge-worker/build/index.js"), join(dir, "index.js"));
  copyFileSync(join(root, "edge-worker/build/index_bg.wasm"), join(dir, "index_bg.wasm"));
  copyFileSync(join(root, "bench/edge/js-worker.mjs"), join(dir, "js-worker.mjs"));
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "rust", worker = .rust),
    (name = "js", worker = .js),
    (name = "kv", worker = .kv),
    (name = "queue", worker = .queue),
  ],
  sockets = [
    (name = "rust", address = "127.0.0.1:${ports.rust}", http = (), service = "rust"),
    (name = "js", address = "127.0.0.1:${ports.js}", http = (), service = "js"),
  ],
);
const rust :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  compatibilityDate = "2026-04-01",
  bindings = ${bindings},
);
const js :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "js-worker.mjs")],
  compatibilityDate = "2026-04-01",
  bindings = ${bindings},
);
const kv :Workerd.Worker = (
  modules = [(name = "kv.js", esModule = embed "kv.js"), (name = "seed.json", json = embed "seed.json")],
  compatibilityDate = "2026-04-01",
);
const queue :Workerd.Worker = (
  modules = [(name = "queue.js", esModule = embed "queue.js")],
  compatibilityDate = "2026-04-01",
);
`;
}

async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((res) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

export async function startWorkerd({ inspector } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "edge-bench-"));
  const ports = { rust: await freePort(), js: await freePort() };
  const config = join(dir, "config.capnp");
  writeFileSync(config, capnpConfig(dir, ports));
  const args = ["serve", config, ...(inspector ? [`--inspector-addr=${inspector}`] : [])];
  const proc = spawn(join(root, "node_modules/.bin/workerd"), args, { stdio: ["ignore", "ignore", "inherit"] });
  process.on("exit", () => proc.kill("SIGKILL"));
  const urls = { rust: `http://127.0.0.1:${ports.rust}`, js: `http://127.0.0.1:${ports.js}` };
  for (const [kind, url] of Object.entries(urls)) {
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(`${url}/DEMO0001`, { redirect: "manual", signal: AbortSignal.timeout(2000) });
        if (r.status !== 302 || r.headers.get("location") !== eventRecord.default_url) {
          throw new Error(`${kind} worker answered ${r.status} ${r.headers.get("location")}`);
        }
        break;
      } catch (e) {
        if (i > 100 || proc.exitCode !== null || String(e).includes("worker answered")) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return { proc, urls, dir };
}

const lua = join(mkdtempSync(join(tmpdir(), "edge-bench-")), "bands.lua");
writeFileSync(
  lua,
  `local ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
request = function()
  return wrk.format("GET", string.format("/DEMO%04d", math.random(1, ${BANDS})), { ["User-Agent"] = ua })
end
`,
);

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

export function wrk(url, seconds, connections = 32) {
  const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", lua, url], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors:.*/.exec(out)?.[0] ?? "";
  if (non2xx > 0) throw new Error(`non-3xx responses during the run:\n${out}`);
  return { rps, p50, p99, errors };
}

