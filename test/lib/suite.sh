# shellcheck shell=bash
#
# What every shell suite in test/suites/ shares: the counters, the lines scripts/test.sh counts
# (`ok - ...` / `not ok - ...`), diagnostics, and psql as the suite's superuser.  Source it right
# after `set -uo pipefail`; a suite may redefine q afterwards (a default database, another host).

# The bin dir of the server under test: scripts/lib.sh exports PG_BINDIR from PG_CONFIG (Debian's
# 15, or 17/18 built by scripts/pg-build.sh for `make test PG=N`).
PG_BIN=${PG_BIN:-${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}}
PASSED=0
FAILED=0

ok() {
    echo "ok - $*"
    PASSED=$((PASSED + 1))
}

not_ok() {
    echo "not ok - $*"
    FAILED=$((FAILED + 1))
}

# Indent stdin as TAP diagnostics.
diag() { sed 's/^/# /'; }

q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
