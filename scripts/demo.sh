#!/usr/bin/env bash
#
# Build, install and walk through billium on a throwaway PostgreSQL 15 cluster:
# creates database billium_demo with the extension, runs demo/walkthrough.sql
# there, echoing each statement before its result, then demo/after.sh if it
# exists (with PGDATABASE=billium_demo).  See scripts/lib.sh for the knobs;
# BILLIUM_KEEP=1 keeps the cluster up afterwards so you can keep poking at it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BILLIUM_ROOT"

WALKTHROUGH=demo/walkthrough.sql
DEMO_DB=billium_demo

run_walkthrough() {
    local rc=0
    printf '\n==================== %s ====================\n\n' "$WALKTHROUGH"
    # The walk-through shows refused calls on purpose, so SQL errors must not
    # stop it (ON_ERROR_STOP=0).  psql then exits non-zero only when it could
    # not go on: no connection, lost connection (e.g. a backend crash),
    # unreadable file.  --echo-queries shows each statement right before its
    # result, while the file narrates with \echo (--echo-all would print
    # every \echo twice).  stderr is merged so that errors, with their
    # DETAIL and HINT, appear inline right after the statement that raised them.
    psql -X -d "$DEMO_DB" \
        -v ON_ERROR_STOP=0 -v VERBOSITY=default -v SHOW_CONTEXT=never \
        --echo-queries -f "$WALKTHROUGH" 2>&1 || rc=$?
    if ((rc != 0)); then
        echo "---- server log (last 50 lines) ----" >&2
        tail -n 50 "$BILLIUM_SERVER_LOG" >&2 || true
        billium_die "the walk-through did not run to its end (psql exit status $rc)"
    fi
}

main() {
    [[ -f $WALKTHROUGH ]] || billium_die "$WALKTHROUGH is missing; nothing to demo"
    billium_ensure_packages
    billium_build_install
    # Key usage is counted in the demo's database (the worker connects once it exists).
    BILLIUM_USAGE_DATABASE=$DEMO_DB
    billium_start_cluster
    # Setup is ours, and any error in it is fatal: the walk-through starts
    # from a database that already has the extension.
    createdb "$DEMO_DB"
    billium_psql -d "$DEMO_DB" -c 'CREATE EXTENSION billium;'
    # The usage worker retries every 10 s until the database exists: wait for it (step 33).
    for _ in $(seq 150); do
        [[ $(psql -X -At -d "$DEMO_DB" -c "SELECT count(*) FROM pg_stat_activity
            WHERE backend_type = 'billium key usage' AND datname = current_database()") == 1 ]] && break
        sleep 0.1
    done

    run_walkthrough

    if [[ -f demo/after.sh ]]; then
        printf '\n==================== %s ====================\n\n' demo/after.sh
        # Same cluster environment, pointed at the demo database.
        PGDATABASE=$DEMO_DB BILLIUM_DEMO_DB=$DEMO_DB bash demo/after.sh
    fi
    echo
    billium_log "demo finished"
}

main "$@"
