#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already there.
# Safe to run repeatedly; fast when everything is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v node >/dev/null || die "node not found: install Node.js >= 20 (e.g. apt-get install nodejs npm)"

# A full build and test run needs about 3 GB under target/ (plus the cargo and
# npm caches); a full disk shows up later as a linker bus error, so say it now.
free_kb=$(df -Pk "$root" | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((4 * 1024 * 1024)) ]; then
  say "warning: only $((free_kb / 1024)) MB free on the disk holding $root; building and testing need about 4 GB (free space, or point CARGO_TARGET_DIR at a larger disk)"
fi

lock_version() { # version of a crate in Cargo.lock
  awk -v n="$1" '$0=="name = \""n"\"" {getline; gsub(/version = |"/,""); print; exit}' Cargo.lock
}

# 1. Wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. worker-build at the version of the worker crate we build against.
wb_want="$(lock_version worker)"
if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$wb_want" ]; then
  say "installing worker-build $wb_want"
  cargo install worker-build --locked --version "$wb_want"
fi

# 3. wasm-bindgen CLI: must equal the wasm-bindgen crate in Cargo.lock.
bg_want="$(lock_version wasm-bindgen)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}')" != "$bg_want" ]; then
  say "installing wasm-bindgen-cli $bg_want"
  # The CLI's own lockfile can pin a dependency release the registry no longer
  # serves (seen: webpki-roots 1.0.11); then resolve its dependencies afresh.
  cargo install wasm-bindgen-cli --locked --version "$bg_want" \
    || cargo install wasm-bindgen-cli --version "$bg_want"
fi

# 4. cargo-nextest runs the test suite (one process per test, parallel).
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# 5. npm packages (wrangler + workerd, pinned by package-lock.json).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

# 6. Debian packages for the browser tests.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    say "apt-get install ${missing[*]}"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  else
    die "missing ${missing[*]}: install Chromium and ChromeDriver (Debian: apt-get install chromium chromium-driver)"
  fi
fi

say "ready"

