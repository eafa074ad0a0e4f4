#!/usr/bin/env bash
# Builds the edge worker (Rust -> Wasm + JS glue) into edge-worker/build.
# worker-build would download wasm-bindgen/esbuild/wasm-opt from GitHub; we
# point it at the pinned local copies instead (see scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/edge-worker"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/@esbuild/linux-x64/bin/esbuild}"
opt=(--no-opt)
if [ -n "${WASM_OPT_BIN:-}" ] || [ -x "$HOME/.cargo/bin/wasm-opt" ]; then
  export WASM_OPT_BIN="${WASM_OPT_BIN:-$HOME/.cargo/bin/wasm-opt}"
  opt=()
fi
exec worker-build --profile wasm-release "${opt[@]}" "$@"
