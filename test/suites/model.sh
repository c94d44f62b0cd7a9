#!/usr/bin/env bash
#
# billium against an executable model of the spec (issue 12): random sequences of operations by
# random principals, each on one of three backends, checked command by command against
# test/model/model.js (fast-check's model-based commands, node-postgres).  Run by `make test` with
# PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster; prints TAP lines.
#
#   1. node and npm (installed with apt-get when missing, as root), `npm ci` in test/model
#   2. test/model/run.js: a template database with the fixtures, the stored regression cases
#      (test/model/regressions/*.json) replayed first, then random sequences from a fixed seed
#      (MODEL_SEED, default 20261202) within MODEL_RUNS sequences and MODEL_SECONDS seconds;
#      a failure is shrunk to a minimal sequence and stored as a new regression case
#
# Known, issue-tracked discrepancy classes (test/model/known-discrepancies.txt, or
# BILLIUM_MODEL_KNOWN=a,b) report `# TODO` instead of failing; docs/testing.md explains them.
# `make fuzz-model` is the long run (MODEL_SECONDS=600, seed from the clock).
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODEL_DIR=$ROOT/test/model
# shellcheck source=examples/gateway/gateway.sh
source "$ROOT/examples/gateway/gateway.sh"

WORK=$(mktemp -d /tmp/billium_model.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# shellcheck disable=SC2119 # node and npm only
if ! gateway_ensure_tools 2>"$WORK/err"; then
    not_ok "node and npm are available"
    diag <"$WORK/err"
    exit 1
fi
if [[ ! -f $MODEL_DIR/node_modules/.package-lock.json ||
    $MODEL_DIR/package-lock.json -nt $MODEL_DIR/node_modules/.package-lock.json ]]; then
    if ! (cd "$MODEL_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>"$WORK/err"); then
        not_ok "npm ci in test/model installs the locked fast-check and pg"
        diag <"$WORK/err"
        exit 1
    fi
fi
ok "node $(node --version), fast-check $(node -p 'require("'"$MODEL_DIR"'/node_modules/fast-check/package.json").version') and pg from test/model/package-lock.json"

# run.js prints its own TAP lines and totals; its exit status is non-zero only on a failure that is
# not a known class.
node "$MODEL_DIR/run.js" "$@"
