#!/usr/bin/env bash
#
# `make valgrind`: every suite of scripts/test.sh (regression + isolation, pgTAP, test/suites/*.sh)
# against a throwaway cluster whose postmaster, and so every backend, runs under valgrind's
# memcheck.  Then the logs are scanned: an error whose report (its stack, or the stack of the
# block it points into) has a frame in billium.so or in one of billium's source files is
# billium's, and any such error fails the run.  Errors of the server alone are counted and
# summarised, not failed: Debian's PostgreSQL is built without USE_VALGRIND, so expect noise from
# the server itself (test/valgrind.supp holds PostgreSQL's own suppressions).
#
#   bash scripts/valgrind.sh            (or `make valgrind`)
#
# Knobs (besides those of scripts/lib.sh):
#   BILLIUM_VALGRIND_DIR    where the logs go (default: a new /tmp/billium-valgrind.XXXXXX, removed
#                           at the end when billium has no error and BILLIUM_KEEP is not 1)
#   BILLIUM_VALGRIND_OPTS   extra valgrind options
#   BILLIUM_PORT            first port to try (default 55329 here, away from `make test`'s)
#
# The last lines read "N passed, N failed" (the suites, as in scripts/test.sh) and
# "N valgrind errors in billium"; the exit status is 0 only when both are clean.
set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Reuse scripts/test.sh's suite runners and counters: everything but its last line, which runs it.
if ! grep -qx 'main "\$@"' "$SCRIPTS_DIR/test.sh"; then
    echo 'billium: error: scripts/test.sh no longer ends with `main "$@"`; update scripts/valgrind.sh' >&2
    exit 1
fi
eval "$(sed -e 's/^main "\$@"$/: "test.sh main skipped"/' "$SCRIPTS_DIR/test.sh")"

BILLIUM_PORT=${BILLIUM_PORT:-55329}
# Also counted by the trap handler of test.sh when we die early.
VALGRIND_ERRORS_BILLIUM=0

# --- packages ------------------------------------------------------------------

valgrind_ensure() {
    command -v valgrind >/dev/null && return 0
    ((EUID == 0)) || billium_die "valgrind is missing; install it as root: apt-get install valgrind"
    billium_log "installing valgrind"
    billium_apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind
}

# --- the cluster, its postmaster under valgrind ----------------------------------

# pg_ctl -p starts the postmaster through this wrapper; the backends are its forks, so valgrind
# follows them without an exec, one log per process.  Everything valgrind reads is copied into the
# cluster's directory: the server's user may not be able to read the checkout (a clone under /root).
valgrind_write_wrapper() {
    local wrapper=$BILLIUM_TMPDIR/postgres-under-valgrind supp=$BILLIUM_TMPDIR/valgrind.supp
    cp "$BILLIUM_ROOT/test/valgrind.supp" "$supp"
    chmod 644 "$supp"
    cat >"$wrapper" <<EOF
#!/bin/sh
exec valgrind --quiet --trace-children=yes --leak-check=no --error-exitcode=0 \\
    --num-callers=40 --fullpath-after= --error-limit=no --track-origins=no \\
    --suppressions=$supp \\
    --log-file=$VG_DIR/valgrind.%p.log ${BILLIUM_VALGRIND_OPTS:-} \\
    $PG_BINDIR/postgres "\$@"
EOF
    chmod 755 "$wrapper"
    VG_WRAPPER=$wrapper
}

valgrind_pg_start() {
    local conf=$BILLIUM_TMPDIR/data/postgresql.conf log=$BILLIUM_TMPDIR/server.log
    local port=$BILLIUM_PORT
    # JIT under valgrind only measures LLVM.  Everything else as in `make test`.
    echo "jit = off" >>"$conf"
    for _ in 1 2 3 4 5; do
        port=$(billium_free_port "$port")
        echo "port = $port" >>"$conf"
        if billium_as_server "$PG_BINDIR/pg_ctl" -D "$BILLIUM_TMPDIR/data" -p "$VG_WRAPPER" \
            -t 600 -w -s -l "$log" start; then
            BILLIUM_PORT_USED=$port
            return 0
        fi
        grep -q 'could not bind\|could not create any TCP/IP sockets' "$log" 2>/dev/null || break
        billium_log "port $port was taken after all; trying another"
        ((port++))
    done
    echo "---- $log ----" >&2
    cat "$log" >&2 || true
    # valgrind refuses to start (an unreadable file, a bad option) before the server writes a line:
    # its own logs say why.
    local vglog
    for vglog in "$VG_DIR"/valgrind.*.log; do
        [[ -s $vglog ]] || continue
        echo "---- $vglog ----" >&2
        cat "$vglog" >&2 || true
    done
    billium_die "could not start the PostgreSQL server under valgrind"
}

valgrind_start_cluster() {
    billium_install_traps
    BILLIUM_TMPDIR=$(mktemp -d /tmp/billium.XXXXXX)
    billium_pick_server_user
    chmod 755 "$BILLIUM_TMPDIR"
    [[ -z $BILLIUM_SERVER_USER ]] || chown "$BILLIUM_SERVER_USER:" "$BILLIUM_TMPDIR"

    VG_DIR=${BILLIUM_VALGRIND_DIR:-$(mktemp -d /tmp/billium-valgrind.XXXXXX)}
    mkdir -p "$VG_DIR"
    chmod 755 "$VG_DIR"
    [[ -z $BILLIUM_SERVER_USER ]] || chown "$BILLIUM_SERVER_USER:" "$VG_DIR"

    billium_log "starting a throwaway cluster in $BILLIUM_TMPDIR, postmaster under valgrind (logs in $VG_DIR)"
    billium_initdb
    billium_write_config
    valgrind_write_wrapper
    valgrind_pg_start

    export PGHOST=$BILLIUM_TMPDIR PGPORT=$BILLIUM_PORT_USED PGUSER=postgres PGDATABASE=postgres
    export BILLIUM_TMPDIR BILLIUM_SERVER_LOG=$BILLIUM_TMPDIR/server.log
    export BILLIUM_UNDER_VALGRIND=1 # suites whose timing assumptions valgrind breaks say so
    billium_log "server up on port $PGPORT (socket dir $PGHOST)"
}

# A backend crash restarts the cluster, which under valgrind takes a while.
wait_for_server() {
    local tries=300
    until pg_isready -q; do
        ((--tries > 0)) || { echo "billium: the server did not come back" >&2; return 1; }
        sleep 1
    done
}

# --- the logs ----------------------------------------------------------------------

# Every error report of every log, one per record: "LOG<TAB>OWNER<TAB>KIND<TAB>STACK" where
# OWNER is billium or server and STACK the frames joined with " <- ".  An error report is a
# paragraph of a log (between "==PID== " blank lines) that holds a stack frame ("at 0x" or
# "by 0x"); the banner and the exit summary hold none.
valgrind_errors() {
    local root=$BILLIUM_ROOT
    find "$VG_DIR" -name 'valgrind.*.log' -print0 | xargs -0 -r awk -v root="$root/src/" '
        function flush(   owner) {
            if (nframes > 0 && kind != "") {
                owner = (index(text, "billium.so") || index(text, root)) ? "billium" : "server"
                printf "%s\t%s\t%s\t%s\n", file, owner, kind, stack
            }
            kind = ""; stack = ""; text = ""; nframes = 0
        }
        FNR == 1 { flush(); file = FILENAME }
        {
            line = $0
            sub(/^==[0-9]+== ?/, "", line)
            if (line ~ /^[ \t]*$/) { flush(); next }
            text = text "\n" line
            if (line ~ /^ +(at|by) 0x/) {
                frame = line
                sub(/^ +(at|by) 0x[0-9A-Fa-f]+: /, "", frame)
                stack = stack (nframes++ ? " <- " : "") frame
            } else if (kind == "" && nframes == 0) {
                kind = line
            }
        }
        END { flush() }
    '
}

valgrind_report() {
    local all=$BILLIUM_TMPDIR/valgrind-errors.tsv nlogs total server
    valgrind_errors >"$all" || true
    nlogs=$(find "$VG_DIR" -name 'valgrind.*.log' | wc -l)
    total=$(wc -l <"$all")
    VALGRIND_ERRORS_BILLIUM=$(awk -F'\t' '$2 == "billium"' "$all" | wc -l)
    server=$((total - VALGRIND_ERRORS_BILLIUM))

    section "valgrind ($nlogs processes)"
    if ((server > 0)); then
        echo "$server error report(s) of the server alone (no billium frame), by kind and innermost frames:"
        awk -F'\t' '$2 == "server" {
                n = split($4, f, " <- "); top = f[1]; if (n > 1) top = top " <- " f[2]
                print "  " $3 "  [" top "]"
            }' "$all" | sort | uniq -c | sort -rn | head -n 20
    fi
    if ((VALGRIND_ERRORS_BILLIUM > 0)); then
        echo
        echo "errors with a billium frame (distinct stacks; full reports in the logs named):"
        awk -F'\t' '$2 == "billium" { print $3 "\n    " $4 "\n    (" $1 ")" }' "$all" |
            awk 'NR % 3 == 1 { k = $0 } NR % 3 == 2 { s = $0 } NR % 3 == 0 { if (!seen[k s]++) print k "\n" s "\n" $0 }' |
            head -n 120
    fi
}

# --- main ------------------------------------------------------------------------

valgrind_main() {
    local started=$SECONDS keep_logs=0
    billium_install_traps
    billium_ensure_packages
    valgrind_ensure
    billium_build_install
    billium_install_fixtures
    valgrind_start_cluster

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

    # Stop the server cleanly so that every process has finished its log.
    billium_as_server "$PG_BINDIR/pg_ctl" -D "$BILLIUM_TMPDIR/data" -m fast -t 600 -w -s stop || true
    valgrind_report

    section "summary"
    printf '%s\n' "${SUMMARY[@]}"
    printf '  %-22s %s\n' "duration" "$(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s"
    if ((VALGRIND_ERRORS_BILLIUM > 0)) || [[ ${BILLIUM_KEEP:-0} == 1 || -n ${BILLIUM_VALGRIND_DIR:-} ]]; then
        keep_logs=1
        printf '  %-22s %s\n' "valgrind logs" "$VG_DIR"
    fi
    ((keep_logs)) || rm -rf "$VG_DIR"
    FINISHED=1
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    echo "$VALGRIND_ERRORS_BILLIUM valgrind errors in billium"
    ((TOTAL_FAILED == 0 && TOTAL_PASSED > 0 && VALGRIND_ERRORS_BILLIUM == 0))
}

valgrind_main "$@"
