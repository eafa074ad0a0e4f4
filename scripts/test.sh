#!/usr/bin/env bash
# Every check and every test. Expects scripts/setup.sh and the edge build to
# have run (`make test` does both).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# A test run builds once: incremental state would only cost disk and time.
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false CARGO_INCREMENTAL=0
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

scripts/check-services.sh

step "format"
cargo fmt --all -- --check
step "lint (host)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "lint (wasm32 edge worker)"
cargo clippy -p edge-worker -p shared --target wasm32-unknown-unknown --locked -- -D warnings
step "tests"
cargo nextest run --workspace --locked
