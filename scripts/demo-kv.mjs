// KV records of the demo event, for `wrangler kv bulk put` (edge-only dev).
const org = "0190f000-0000-7000-8000-00000000d001";
const event = "0190f000-0000-7000-8000-00000000e001";
const url = "https://example.com/sparkmotion-demo";
const records = [
  { key: `event:${event}`, value: JSON.stringify({ v: 1, rev: 1, org_id: org, status: "active", default_url: url, windows: [] }) },
];
for (let i = 1; i <= 100; i++) {
  const id = `DEMO${String(i).padStart(4, "0")}`;
  records.push({ key: `band:${id}`, value: JSON.stringify({ v: 1, rev: 1, event_id: event, org_id: org, status: "active" }) });
}
process.stdout.write(JSON.stringify(records));
