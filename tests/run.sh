#!/usr/bin/env bash
# The whole test suite: unit and store tests (cargo), then end-to-end tests that start real
# `berth server` processes and drive them with boto3 and aws-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --quiet
python3 -m pytest -q tests/e2e
