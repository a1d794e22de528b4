# Game Day. Two commands: `make up` (web app + worker + demo system) and
# `make test` (every suite). Both install what they need and are safe to rerun.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# `make up DEMO=containers`: the demo system as Docker containers (the same as GAMEDAY_DEMO=containers)
ifdef DEMO
export GAMEDAY_DEMO := $(DEMO)
endif

export NEXT_TELEMETRY_DISABLED := 1
export CHECKPOINT_DISABLE := 1
export PRISMA_HIDE_UPDATE_MESSAGE := 1

help:
	@echo "make up     install, migrate, build, start web app + worker + demo system"
	@echo "            (make up DEMO=containers: the demo as Docker containers)"
	@echo "make test   install, build, run every test suite"
	@echo "make bench  run the benchmarks (results in bench/results/)"

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh

up: build
	@exec node --import tsx scripts/up.ts

test:
	@GAMEDAY_SETUP_TEST=1 bash scripts/setup.sh
	@bash scripts/build.sh
	@bash scripts/test.sh

bench: setup
	@node --import tsx bench/run.ts
	@node --import tsx bench/net.ts
	@node --import tsx bench/reaper.ts
	@node --import tsx bench/dns.ts
	@node --import tsx bench/proxy.ts
	@node --import tsx bench/abort-latency.ts
	@node --import tsx bench/cadence.ts
	@node --import tsx bench/bpf.ts

.PHONY: help setup build up test bench
