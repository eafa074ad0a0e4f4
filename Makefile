# Two commands on a fresh machine: `make dev` runs the system, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup services edge dev test bench bench-edge bench-ingest bench-retention

help:
	@echo "make dev    set up and run locally (edge 127.0.0.1:8787, origin 127.0.0.1:8080, demo data)"
	@echo "make test   set up and run every check and test"
	@echo "make bench  run the benchmarks and print their tables"

setup:
	@scripts/setup.sh

edge: setup
	@scripts/build-edge.sh

dev: edge
	@scripts/dev.sh

services:
	@scripts/check-services.sh

test: services edge
	@scripts/test.sh

bench: bench-edge bench-ingest bench-retention

bench-edge: edge
	@command -v wrk >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; $$sudo apt-get install -y -qq wrk || { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq wrk; }; }
	@node bench/edge/bench.mjs

bench-ingest: setup
	@cargo build --locked --release -p origin-api
	@cargo bench --locked -p system-tests --bench ingest

bench-retention: setup
	@cargo bench --locked -p system-tests --bench retention
