// Baseline for the edge benchmark: the same job as the Rust worker's tap path
// (band id check, KV band + event lookup with a 5 s isolate event cache,
// resolution, 302 with the same headers, tap to the queue in waitUntil),
// written the way a careful JavaScript worker would be.

const ID = /^[A-Za-z0-9_-]{4,32}$/;
const HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-xss-protection": "0",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "cache-control": "no-store",
};
const PREVIEWERS = ["slackbot", "whatsapp", "facebookexternalhit", "twitterbot", "discordbot", "telegrambot", "linkedinbot", "bingpreview"];
const BOTS = ["bot", "crawl", "spider", "curl/", "wget/", "python-requests", "go-http-client", "headlesschrome"];
const events = new Map();

function uuidv7() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  const ms = Date.now();
  for (let i = 0; i < 6; i++) b[i] = Math.floor(ms / 2 ** (8 * (5 - i))) & 0xff;
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function classify(ua) {
  const s = (ua || "").slice(0, 512).toLowerCase();
  const device = /iphone|ipad|ipod/.test(s) ? "ios" : s.includes("android") ? "android" : "other";
  const agent = !s ? "bot" : PREVIEWERS.some((p) => s.includes(p)) ? "previewer" : BOTS.some((b) => s.includes(b)) ? "bot" : "human";
  return { agent, device };
}

async function eventRecord(env, id, now) {
  const hit = events.get(id);
  if (hit && hit.until > now) return hit.value;
  const value = await env.BANDS.get(`event:${id}`, "json");
  events.set(id, { until: now + 5000, value });
  return value;
}

function resolve(band, event, nowS, fallback) {
  if (!band) return [fallback, "unknown_band"];
  if (!event || event.org_id !== band.org_id) return [fallback, "event_missing"];
  const fb = event.fallback_url || fallback;
  if (band.status !== "active") return [fb, "band_disabled"];
  if (event.status !== "active") return [fb, "event_inactive"];
  if (band.override_url) return [band.override_url, "override"];
  let win = null;
  for (const w of event.windows || []) if (w.starts_at <= nowS && nowS < w.ends_at && (!win || w.starts_at > win.starts_at)) win = w;
  if (win) return [win.url, "window"];
  return event.default_url ? [event.default_url, "default"] : [fb, "no_destination"];
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const head = request.method === "HEAD";
    if (request.method !== "GET" && !head) return new Response("method not allowed\n", { status: 405, headers: HEADERS });
    const id = url.pathname.slice(1);
    if (!ID.test(id)) return new Response("not found", { status: 404, headers: HEADERS });
    const bandId = id.toUpperCase();
    const now = Date.now();
    const band = await env.BANDS.get(`band:${bandId}`, "json");
    const event = band ? await eventRecord(env, band.event_id, now) : null;
    const [location, outcome] = resolve(band, event, Math.floor(now / 1000), env.FALLBACK_URL);
    const { agent, device } = classify(request.headers.get("user-agent"));
    const cf = request.cf || {};
    const tap = { id: uuidv7(), band_id: bandId, event_id: band?.event_id, org_id: band?.org_id, ts_ms: now, outcome, head, agent, device, country: cf.country, colo: cf.colo };
    const message = JSON.stringify(tap);
    ctx.waitUntil(env.TAPS.send(message).catch((e) => console.error("tap_enqueue_failed", e)));
    // Same per-tap log line as the Rust worker.
    console.log(`{"level":"info","event":"tap","tap":${message}}`);
    return new Response(null, { status: 302, headers: { ...HEADERS, location } });
  },
};
