#!/usr/bin/env bash
# The whole test suite: unit and store tests (cargo), then end-to-end tests that start real
# `berth server` processes and drive them with boto3 and aws-cli. The Docker integration tests
# need the local image berth-demo:latest, which `berth demo image` builds (no registry involved).
# Without a Docker engine (DOCKER_HOST, else /var/run/docker.sock) they are skipped and say so:
# cargo's output carries a "SKIPPED" line per test, pytest's summary lists each skip with its
# reason. BERTH_REQUIRE_DOCKER=1 (set by .ci/run) makes them fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p berth
if [ -n "${BERTH_REQUIRE_DOCKER:-}" ] && [ "${BERTH_REQUIRE_DOCKER}" != 0 ]; then
    "${CARGO_TARGET_DIR:-target}/debug/berth" demo image
else
    "${CARGO_TARGET_DIR:-target}/debug/berth" demo image || echo "no demo image: the Docker tests will be skipped" >&2
fi
cargo test --workspace --quiet
python3 -m pytest -q -rs tests/e2e
