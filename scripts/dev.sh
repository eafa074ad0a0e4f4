#!/usr/bin/env bash
# Runs the system locally: the origin on 127.0.0.1:8080 (Postgres-backed,
# migrated, demo data) and the edge worker in workerd (wrangler dev) on
# 127.0.0.1:8787, sharing throwaway development secrets kept in .env.dev.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
say() { printf '\033[1;34m[dev]\033[0m %s\n' "$*"; }

# 1. Postgres: DATABASE_URL if set, else the local server (started if we can).
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sparkmotion}"
pg_hostport=$(printf '%s' "$DATABASE_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
pg_host=${pg_hostport%%:*}; pg_port=${pg_hostport##*:}; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432
if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    say "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
    echo "PostgreSQL is not reachable at $pg_host:$pg_port. Set DATABASE_URL to a server you can use," >&2
    echo "or install one (Debian: apt-get install postgresql; trust auth for local development)." >&2
    exit 1
  fi
fi

# 2. Development secrets, generated once and shared by origin and edge.
hex32() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
words() { tr -dc 'a-z0-9' </dev/urandom | head -c 20 | sed -E 's/(.{5})/\1-/g; s/-$//'; }
# Every key is kept across restarts: a fresh MFA_KEYS would make enrolled TOTP
# secrets undecryptable, a fresh AUDIT_KEYS would break the audit chain.
touch .env.dev
for var in SIGNING_KEYS AUDIT_KEYS JWT_KEYS MFA_KEYS; do
  if ! grep -q "^$var=" .env.dev; then
    echo "$var=dev:$(hex32)" >> .env.dev
    say "generated $var in .env.dev (throwaway; never use it in production)"
  fi
done
grep -q '^DEMO_PASSWORD=' .env.dev || echo "DEMO_PASSWORD=$(words)" >> .env.dev
set -a; . ./.env.dev; set +a
printf 'SIGNING_KEYS=%s\n' "$SIGNING_KEYS" > .dev.vars

# 3. Origin: build, migrate, seed, serve.
cargo build --locked -q -p origin-api
origin="${CARGO_TARGET_DIR:-target}/debug/origin-api"
export APP_ENV=development BIND_ADDR=127.0.0.1:8080 EDGE_URL=http://127.0.0.1:8787 KV_PUSH_MAX_BACKOFF_SECONDS=2
"$origin" migrate
printf '%s' "$DEMO_PASSWORD" | "$origin" demo seed --password-stdin

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
"$origin" serve &
pids+=($!)

# 4. Edge: workerd via wrangler dev, delivering taps to the origin.
npx wrangler dev --ip 127.0.0.1 --port 8787 --persist-to .wrangler/state \
  --var ORIGIN_URL:http://127.0.0.1:8080 --show-interactive-dev-session=false &
pids+=($!)

for _ in $(seq 1 120); do
  curl -fsS -o /dev/null http://127.0.0.1:8787/healthz 2>/dev/null && curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null && break
  sleep 0.5
done
say "origin: http://127.0.0.1:8080   edge: http://127.0.0.1:8787"
say "dashboard: http://127.0.0.1:8080/login"
say "  ADMIN:     admin@demo.sparkmotion.test      / $DEMO_PASSWORD  (enrol an authenticator app at first sign-in)"
say "  organiser: organiser@demo.sparkmotion.test  / $DEMO_PASSWORD"
say "  (the password is kept in .env.dev)"
say "try:    curl -i http://127.0.0.1:8787/DEMO0001"
say "taps:   psql \"$DATABASE_URL\" -c 'SELECT band_id, outcome, agent, tapped_at FROM tap_logs ORDER BY tapped_at DESC LIMIT 5'"
wait -n "${pids[@]}"
