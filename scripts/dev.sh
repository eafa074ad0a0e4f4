#!/usr/bin/env bash
# Runs the system locally: the edge worker in workerd (wrangler dev) on
# 127.0.0.1:8787 with local KV seeded with the demo event and bands
# DEMO0001–DEMO0100.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export WRANGLER_SEND_METRICS=false
state=.wrangler/state
mkdir -p "$state"

if [ ! -f .dev.vars ]; then
  printf 'SIGNING_KEYS=dev:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > .dev.vars
  echo "[dev] wrote .dev.vars with a throwaway signing key"
fi

node scripts/demo-kv.mjs > .wrangler/demo-kv.json
npx wrangler kv bulk put --local --binding BANDS --persist-to "$state" .wrangler/demo-kv.json >/dev/null
echo "[dev] seeded local KV: demo event, bands DEMO0001-DEMO0100 -> https://example.com/sparkmotion-demo"
echo "[dev] try: curl -i http://127.0.0.1:8787/DEMO0001"
exec npx wrangler dev --ip 127.0.0.1 --port 8787 --persist-to "$state" --show-interactive-dev-session=false
