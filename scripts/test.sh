#!/usr/bin/env bash
#
# Build, install and run every test suite against a throwaway PostgreSQL 15
# cluster (see scripts/lib.sh for the knobs).  Suites:
#   1. regression + isolation   `make installcheck` (pg_regress, pg_isolation_regress)
#   2. pgTAP                    test/pgtap/*.sql through pg_prove
#   3. extra                    test/suites/*.sh, each printing `ok - ...` / `not ok - ...`
# The very last line of output is always `N passed, N failed`; the exit status
# is 0 only when nothing failed and something passed.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BILLIUM_ROOT"

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
FINISHED=0

# record SUITE PASSED FAILED [NOTE]
record() {
    TOTAL_PASSED=$((TOTAL_PASSED + $2))
    TOTAL_FAILED=$((TOTAL_FAILED + $3))
    SUMMARY+=("$(printf '  %-22s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

section() { printf '\n==================== %s ====================\n' "$*"; }

# Called from the EXIT trap after the cluster is gone.  If we are dying early
# (package install, build or cluster start failed), still end with the totals
# line, counting the aborted run as a failure.
billium_at_exit() {
    ((FINISHED)) && return 0
    printf '\ntest run aborted (exit status %s) before all suites ran\n' "$1"
    echo "$TOTAL_PASSED passed, $((TOTAL_FAILED + 1)) failed"
}

# --- counting ----------------------------------------------------------------

# Per-test lines of `make -i installcheck` output -> "PASSED FAILED BROKEN".
# BROKEN counts pg_regress / pg_isolation_regress runs that failed (make's
# "Error N (ignored)") without reporting any failed test, e.g. a missing
# expected file or a lost connection: those tests would otherwise go uncounted.
count_regress() {
    awk '
        # Each runner announces itself first ("+++ regress install-check in ...").
        /^\+\+\+ .*install-check/ { run_failed = 0; next }
        /Error [0-9]+ \(ignored\)/ { if (!run_failed) broken++; next }
        # PG <= 15:  "test name   ... ok   12 ms"; parallel-group members are
        # indented instead of prefixed with "test".
        /^(test +| +)[^ ]+ +\.\.\. / {
            if ($0 ~ /\.\.\. +ok/)            passed++
            else if ($0 ~ /\(ignored\)/)      ignored++
            else if ($0 ~ /\.\.\. +FAILED/) { failed++; run_failed++ }
            next
        }
        # PG >= 16 (TAP):  "ok 1   - name   12 ms", "not ok 2   + name   9 ms"
        /^not ok [0-9]+ +[-+] / {
            if ($0 ~ /\(ignored\)/) ignored++; else { failed++; run_failed++ }
            next
        }
        /^ok [0-9]+ +[-+] / { passed++ }
        END { print passed + 0, failed + 0, broken + 0 }
    ' "$1"
}

# TAP result lines ("ok 3 - x", "ok - x", "not ok 4 - y") -> "PASSED FAILED TODO".
# Only unindented lines count: indented ones are subtests, summarised by their
# parent's line.  A failing test marked "# TODO" is expected to fail: not a failure.
count_tap() {
    awk '
        { sub(/\r$/, "") }
        /^not ok([ \t]|$)/      { if (tolower($0) ~ /#[ \t]*todo/) todo++; else failed++; next }
        # A bare "ok" is the per-file verdict of pg_prove, not a test.
        /^ok[ \t]+([0-9]|-)/    { passed++ }
        END { print passed + 0, failed + 0, todo + 0 }
    ' "$1"
}

# --- suite 1: regression + isolation -----------------------------------------

show_regression_diffs() {
    local stamp=$1 budget=300 diffs n
    # Only diffs written by this run (a stale output_iso/ may linger from an
    # older Makefile).  Both regression.diffs and output_iso/regression.diffs.
    while IFS= read -r diffs; do
        ((budget > 0)) || break
        n=$(wc -l <"$diffs")
        printf '\n---- %s (%d lines) ----\n' "${diffs#./}" "$n"
        head -n "$budget" "$diffs"
        ((n <= budget)) || printf '... (%d more lines in %s)\n' "$((n - budget))" "${diffs#./}"
        budget=$((budget - n))
    done < <(find . -maxdepth 3 -name regression.diffs -size +0 -newer "$stamp" | sort)
}

run_regression() {
    section "regression + isolation (make installcheck)"
    local log=$BILLIUM_TMPDIR/installcheck.log stamp=$BILLIUM_TMPDIR/installcheck.stamp
    local rc=0 passed failed broken note=
    touch "$stamp"
    # -i: the PGXS recipe runs pg_regress and then pg_isolation_regress as
    # separate recipe lines; without -i a regression failure would skip the
    # isolation tests.  make still reports "Error N (ignored)", which we check.
    make -i --no-print-directory PG_CONFIG="$PG_CONFIG" installcheck 2>&1 | tee "$log" || rc=$?
    read -r passed failed broken < <(count_regress "$log")
    if ((broken > 0)); then
        failed=$((failed + broken))
        note="$broken test run(s) failed without a failing test; see above"
    elif ((rc != 0 && failed == 0)); then
        failed=1
        note="make installcheck exited with status $rc"
    fi
    ((failed == 0)) || show_regression_diffs "$stamp"
    record "regression+isolation" "$passed" "$failed" "$note"
}

# --- suite 2: pgTAP --------------------------------------------------------

# Runs pg_prove on one file; adds to the PGTAP_* counters.
run_pgtap_file() {
    local file=$1 log=$BILLIUM_TMPDIR/pgtap.log rc=0 p f t
    # One pg_prove per file, so that a file which dies can be told apart.
    pg_prove -d billium_tap --verbose "$file" 2>&1 | tee "$log" || rc=$?
    read -r p f t < <(count_tap "$log")
    # A file that dies half-way or misses its plan may show no "not ok" at
    # all; pg_prove's status and "Result: FAIL" catch it.
    if { ((rc != 0)) || grep -q '^Result: FAIL' "$log"; } && ((f == 0)); then
        f=1
        PGTAP_BROKEN+=("$file")
    fi
    PGTAP_PASSED=$((PGTAP_PASSED + p))
    PGTAP_FAILED=$((PGTAP_FAILED + f))
    PGTAP_TODO=$((PGTAP_TODO + t))
}

run_pgtap() {
    local files=()
    shopt -s nullglob
    files=(test/pgtap/*.sql)
    shopt -u nullglob
    ((${#files[@]} > 0)) || return 0

    section "pgTAP (${#files[@]} files)"
    PGTAP_PASSED=0 PGTAP_FAILED=0 PGTAP_TODO=0 PGTAP_BROKEN=()
    if ! createdb billium_tap ||
        ! billium_psql -d billium_tap -c 'CREATE EXTENSION pgtap; CREATE EXTENSION billium; CREATE EXTENSION billium_test;'; then
        record "pgTAP" 0 1 "could not set up database billium_tap"
        return 0
    fi

    local file note=
    for file in "${files[@]}"; do
        run_pgtap_file "$file"
    done
    dropdb billium_tap || echo "warning: could not drop database billium_tap" >&2

    ((PGTAP_TODO == 0)) || note="$PGTAP_TODO todo"
    ((${#PGTAP_BROKEN[@]} == 0)) || note="${note:+$note; }died or bad plan: ${PGTAP_BROKEN[*]}"
    record "pgTAP" "$PGTAP_PASSED" "$PGTAP_FAILED" "$note"
}

# --- suite 3: test/suites/*.sh ---------------------------------------------

run_extra_suites() {
    local scripts=() script log=$BILLIUM_TMPDIR/suite.log rc p f t note
    shopt -s nullglob
    scripts=(test/suites/*.sh)
    shopt -u nullglob

    for script in "${scripts[@]}"; do
        # A suite marked "billium-suite: debian-15-only" tests what only Debian's own PostgreSQL 15
        # has (the postgresql-15-billium package): against another version it is listed, not run.
        if grep -q '^# billium-suite: debian-15-only' "$script" && [[ ${PG_MAJOR:-15} != 15 ]]; then
            record "$(basename "$script" .sh)" 0 0 "not run on $PG_MAJOR: tests the Debian package for 15"
            continue
        fi
        # A suite marked "billium-suite: no-valgrind" does not use the cluster under test (it
        # checks files, or starts a server of its own): `make valgrind` lists it, not runs it.
        if grep -q '^# billium-suite: .*no-valgrind' "$script" && [[ ${BILLIUM_UNDER_VALGRIND:-0} == 1 ]]; then
            record "$(basename "$script" .sh)" 0 0 "not run under valgrind: does not use the cluster"
            continue
        fi
        section "suite ${script#test/suites/}"
        rc=0 note=
        # The cluster's PG* variables are exported, so the script just connects.
        bash "$script" 2>&1 | tee "$log" || rc=$?
        read -r p f t < <(count_tap "$log")
        if ((rc != 0 && f == 0)); then
            f=1
            note="exited with status $rc"
        fi
        ((t == 0)) || note="${note:+$note; }$t todo"
        record "$(basename "$script" .sh)" "$p" "$f" "$note"
    done
}

# --- suite 0: a strict build ---------------------------------------------------

# The C compiles warning-free with -Werror and assertions on against this version.
run_strict_build() {
    section "strict build (-Wall -Wextra -Werror -DUSE_ASSERT_CHECKING)"
    local log=$BILLIUM_TMPDIR/strict.log rc=0 p f t
    bash scripts/strict-build.sh 2>&1 | tee "$log" || rc=$?
    read -r p f t < <(count_tap "$log")
    ((rc == 0 || f > 0)) || f=1
    record "strict build" "$p" "$f"
}

# --- main ----------------------------------------------------------------------

# A backend crash in one suite restarts the whole cluster; wait for it to accept connections again
# so the next suite reports its own results rather than the crash's aftermath.
wait_for_server() {
    local tries=30
    until pg_isready -q; do
        ((--tries > 0)) || { echo "billium: the server did not come back" >&2; return 1; }
        sleep 1
    done
}

main() {
    billium_install_traps
    billium_ensure_packages
    billium_build_install
    billium_install_fixtures
    billium_start_cluster
    PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

    run_strict_build
    run_regression
    wait_for_server
    run_pgtap
    wait_for_server
    run_extra_suites

    if ((TOTAL_PASSED + TOTAL_FAILED == 0)); then
        record "(none)" 0 1 "no tests found at all"
    fi
    if ((TOTAL_FAILED > 0)) && [[ -s $BILLIUM_SERVER_LOG ]]; then
        section "server log (last 100 lines)"
        tail -n 100 "$BILLIUM_SERVER_LOG"
    fi

    section "summary"
    printf '%s\n' "${SUMMARY[@]}"
    FINISHED=1
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    ((TOTAL_FAILED == 0 && TOTAL_PASSED > 0))
}

main "$@"
