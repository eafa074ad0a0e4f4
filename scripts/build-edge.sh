#!/usr/bin/env bash
# Builds the edge worker (Rust -> Wasm + JS glue) into edge-worker/build.
# worker-build would download wasm-bindgen/esbuild/wasm-opt from GitHub; we
# point it at the pinned local copies instead (see scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/edge-worker"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/@esbuild/linux-x64/bin/esbuild}"
# No wasm-opt: wasm-bindgen 0.2.130 emits exception-handling `exnref` types
# that the binaryen builds installable here (Debian 108, crates.io wasm-opt
# 0.116) cannot parse. Size comes from the `wasm-release` profile instead.
exec worker-build --profile wasm-release --no-opt "$@"
