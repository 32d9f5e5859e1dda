#!/usr/bin/env bash
# The whole test suite: unit and store tests (cargo), then end-to-end tests that start real
# `berth server` processes and drive them with boto3 and aws-cli. The Docker integration tests
# need the local image berth-demo:latest, which `berth demo image` builds (no registry involved).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p berth
"${CARGO_TARGET_DIR:-target}/debug/berth" demo image
cargo test --workspace --quiet
python3 -m pytest -q tests/e2e
