#!/usr/bin/env bash
# The tests need a Postgres (TEST_PG_URL) and a Redis (REDIS_URL); say which is
# missing and how to provide it, rather than failing later inside a test.
# (`make dev` needs only Postgres, and finds it through DATABASE_URL itself.)
set -euo pipefail
die() { printf '\033[1;31m[services]\033[0m %s\n' "$*" >&2; exit 1; }

# host and port of a URL such as postgres://user@host:5432/db or rediss://cache.internal:6380/0
host_port() {
  local hp
  hp=$(printf '%s' "$1" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
  case "$hp" in *:*) echo "${hp%%:*} ${hp##*:}" ;; *) echo "$hp $2" ;; esac
}
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

read -r pg_host pg_port < <(host_port "${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}" 5432)
tcp_open "$pg_host" "$pg_port" \
  || die "PostgreSQL is not reachable at $pg_host:$pg_port. Start one (Debian: apt-get install postgresql && pg_ctlcluster 15 main start; or docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15), or set TEST_PG_URL to a server whose role may create databases (e.g. postgres://postgres@db.internal:5432)."
read -r redis_host redis_port < <(host_port "${REDIS_URL:-redis://127.0.0.1:6379}" 6379)
tcp_open "$redis_host" "$redis_port" \
  || die "Redis is not reachable at $redis_host:$redis_port. Start one (Debian: apt-get install redis-server && redis-server --daemonize yes; or docker run -p 6379:6379 redis:7), or set REDIS_URL."
