#!/usr/bin/env bash
#
# Rate limiting across the cluster (issue 6): what needs reloads, restarts and concurrent
# sessions, which pg_regress cannot do.  Run by `make test` with PGHOST, PGPORT and PGUSER naming a
# superuser of the throwaway cluster (which preloads billium); prints TAP lines (`ok - ...` /
# `not ok - ...`) and exits non-zero when anything failed.
#
#   1. settings take effect on reload (ALTER SYSTEM + pg_reload_conf): rate, burst, off again
#   2. billium.rate_limit_scope = key: one bucket per key
#   3. eight concurrent sessions (pgbench -c 8) against a frozen clock pass exactly the burst;
#      with the real clock, never more than burst + rate x elapsed
#   4. eviction (restart with billium.rate_limit_buckets = 32): a full table of busy buckets
#      refuses a new merchant with 429 and never refills a busy merchant; idle buckets make room
#   5. without shared_preload_libraries: everything works, nothing is limited, and the status
#      says why
# Every setting is reset at the end (ALTER SYSTEM RESET, restart when one needed it).
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

DB=billium_rate_$$
WORK=$(mktemp -d /tmp/billium_rate.XXXXXX)
DATA=${BILLIUM_TMPDIR:-}/data
RESTARTED=0

# check WHAT GOT WANT
check() {
    if [[ $2 == "$3" ]]; then ok "$1"; else
        not_ok "$1"
        echo "#   got:  $2"
        echo "#   want: $3"
    fi
}

qd() { q -d "$DB" "$@"; }

# pg_ctl as the owner of the data directory (the server refuses to run as root).
pg_ctl_as_owner() {
    local owner
    owner=$(stat -c %U "$DATA")
    if ((EUID == 0)) && [[ $owner != root ]]; then
        (cd "$BILLIUM_TMPDIR" && runuser -u "$owner" -- "$PG_BIN/pg_ctl" "$@")
    else
        "$PG_BIN/pg_ctl" "$@"
    fi
}
# restart [SERVER OPTIONS]: stop, then start with these options (start never reuses the last
# run's, as restart would).
restart() {
    RESTARTED=1
    { pg_ctl_as_owner -D "$DATA" -w -s -m fast stop &&
        pg_ctl_as_owner -D "$DATA" -w -s -l "${BILLIUM_SERVER_LOG:-$BILLIUM_TMPDIR/server.log}" \
            ${1:+-o "$1"} start; } >"$WORK/restart" 2>&1 || { diag <"$WORK/restart"; return 1; }
    local tries=30
    until "$PG_BIN/pg_isready" -q; do
        ((--tries > 0)) || return 1
        sleep 0.2
    done
}

# ALTER SYSTEM for each NAME=VALUE (VALUE "" resets), then reload and wait until a new session
# sees the last one.
settings() {
    local kv name value args=()
    for kv in "$@"; do
        name=${kv%%=*} value=${kv#*=}
        if [[ -z $value ]]; then args+=(-c "ALTER SYSTEM RESET $name"); else args+=(-c "ALTER SYSTEM SET $name = '$value'"); fi
    done
    q -d postgres "${args[@]}" -c 'SELECT pg_reload_conf()' >/dev/null || return 1
    local want=${value:-} tries=50 shown
    [[ -n $want ]] || want=$(q -d postgres -c "SELECT boot_val FROM pg_settings WHERE name = '$name'")
    while shown=$(q -d postgres -c "SELECT setting FROM pg_settings WHERE name = '$name'") && [[ $shown != "$want" ]]; do
        ((--tries > 0)) || return 1
        sleep 0.1
    done
}

cleanup() {
    settings billium.rate_limit= billium.rate_burst= billium.rate_limit_scope= >/dev/null 2>&1
    if ((RESTARTED)); then
        q -d postgres -c 'ALTER SYSTEM RESET billium.rate_limit_buckets' >/dev/null 2>&1
        restart >/dev/null 2>&1
    fi
    "$PG_BIN/dropdb" --if-exists "$DB" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

# --- fixtures -------------------------------------------------------------------------------

"$PG_BIN/createdb" "$DB" 2>"$WORK/err" || bail "create database $DB"
qd 2>"$WORK/err" >/dev/null <<'SQL' || bail "install billium 0.5.0 and the fixtures"
CREATE EXTENSION billium;
DO $$
BEGIN
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[] < '{0,5,0}' THEN
		ALTER EXTENSION billium UPDATE TO '0.5.0';
	END IF;
END
$$;
-- The fixtures below: the test-only extension (scripts/lib.sh billium_install_fixtures).
CREATE EXTENSION billium_test;
-- Merchants m1..m40 with one sk and one pk key each.
CREATE TABLE m AS SELECT n, t.merchant_id FROM generate_series(1, 40) AS n,
	LATERAL billium.billium_test_merchant('rate suite ' || n, 'owner' || n || '@rate-suite.test') AS t;
CREATE TABLE k AS
	SELECT n, 'sk' AS type, billium.billium_test_key(merchant_id, 'sk', '{*}') AS key FROM m
	UNION ALL SELECT n, 'pk', billium.billium_test_key(merchant_id, 'pk', '{invoice:view}') FROM m;
CREATE TABLE passed (at timestamptz DEFAULT clock_timestamp());
CREATE TABLE refused (at timestamptz DEFAULT clock_timestamp(), detail text);
-- One request: merchant n's key of that type; the outcome recorded in the same transaction.
CREATE FUNCTION request(n int, type text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	PERFORM billium.billium_authenticate((SELECT key FROM k WHERE k.n = request.n AND k.type = request.type));
	INSERT INTO passed DEFAULT VALUES;
	RETURN 'passed';
EXCEPTION WHEN SQLSTATE '53400' THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	INSERT INTO refused (detail) VALUES (d);
	RETURN 'refused ' || (d::jsonb ->> 'retry_after_ms');
END
$$;
-- count requests, each in its own transaction: "passed refused"
CREATE PROCEDURE requests(n int, type text, count int, INOUT passed int DEFAULT 0, INOUT refused int DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..count LOOP
		IF request(n, type) = 'passed' THEN passed := passed + 1; ELSE refused := refused + 1; END IF;
		COMMIT;
	END LOOP;
END
$$;
SQL
ok "fixtures: 40 merchants with an sk and a pk key each"

# req CLOCK N TYPE COUNT -> "passed refused"
req() { qd -F ' ' -c "SET billium.rate_limit_test_clock = '$1'" -c "CALL requests($2, '$3', $4)"; }
one() { qd -c "SET billium.rate_limit_test_clock = '$1'" -c "SELECT request($2, '$3')"; }
status() {
    qd -F ' ' -c "SET billium.rate_limit_test_clock = '$1'" \
        -c "SELECT enabled, scope, rate, burst, tokens, retry_after_ms FROM billium.billium_rate_limit_status((SELECT merchant_id FROM m WHERE n = $2))"
}

# --- 1. settings take effect on reload ----------------------------------------------------------

C=600000000000000
settings billium.rate_limit=1 billium.rate_burst=3 || bail "ALTER SYSTEM SET billium.rate_limit = 1, rate_burst = 3 and reload"
check "after reload: m1's status shows rate 1, burst 3, a full bucket" "$(status $C 1)" "t merchant 1 3 3 0"
check "m1: sk 2 of 2 pass" "$(req $C 1 sk 2)" "2 0"
check "m1: its pk key shares the bucket: 1 of 3 passes" "$(req $C 1 pk 3)" "1 2"
check "m1: the next is refused with retry_after_ms 1000" "$(one $C 1 sk)" "refused 1000"
check "m2 has its own bucket: 3 of 5 pass" "$(req $C 2 pk 5)" "3 2"
settings billium.rate_burst=5 || bail "reload with billium.rate_burst = 5"
check "after reload with burst 5: m1 (3 owed of 5) gets exactly 2 more" "$(req $C 1 sk 4)" "2 2"
settings billium.rate_limit=0 || bail "reload with billium.rate_limit = 0"
check "after reload with rate 0: nothing is limited (20 of 20 pass)" "$(req $C 1 sk 20)" "20 0"
check "status: off, and why" \
    "$(qd -c "SELECT enabled, reason FROM billium.billium_rate_limit_status()" -F ' ')" "f billium.rate_limit is 0: off"

# --- 2. one bucket per key --------------------------------------------------------------------

C=610000000000000
settings billium.rate_limit=1 billium.rate_burst=2 billium.rate_limit_scope=key || bail "reload with scope key"
check "scope key: m3's sk key 2 of 3" "$(req $C 3 sk 3)" "2 1"
check "scope key: m3's pk key has its own bucket, 2 of 3" "$(req $C 3 pk 3)" "2 1"
check "scope key: the sk key sees its own bucket in the status" \
    "$(qd -F ' ' -c "SET billium.rate_limit_test_clock = '$((C + 1000000))'" -c "BEGIN" \
        -c "SELECT billium.billium_authenticate(key) IS NOT NULL FROM k WHERE n = 3 AND type = 'sk'" \
        -c "SELECT scope, tokens FROM billium.billium_rate_limit_status((SELECT merchant_id FROM m WHERE n = 3))" -c "COMMIT" | tail -1)" \
    "key 0"
settings billium.rate_limit_scope= || bail "reload with scope reset"
check "scope back to merchant: m3's keys share a new, full bucket: 2 of 4" "$(req $C 3 sk 2; req $C 3 pk 2)" "2 0
0 2"

# --- 3. eight concurrent sessions ---------------------------------------------------------------

cat >"$WORK/request.sql" <<'PGB'
\set n random(4, 5)
\set t random(0, 1)
SELECT request(:n, CASE WHEN :t = 0 THEN 'sk' ELSE 'pk' END);
PGB
settings billium.rate_limit=1 billium.rate_burst=50 || bail "reload with rate 1, burst 50"
qd -c 'TRUNCATE passed, refused'
C=620000000000000
if PGOPTIONS="-c billium.rate_limit_test_clock=$C" "$PG_BIN/pgbench" -n -c 8 -j 8 -t 60 -f "$WORK/request.sql" "$DB" \
    >"$WORK/pgbench" 2>&1; then
    check "8 sessions, 480 requests to m4 and m5 (burst 50 each, clock frozen): exactly 100 pass" \
        "$(qd -F ' ' -c 'SELECT (SELECT count(*) FROM passed), (SELECT count(*) FROM refused)')" "100 380"
else
    not_ok "pgbench with 8 clients (frozen clock)"
    diag <"$WORK/pgbench"
fi

settings billium.rate_limit=20 billium.rate_burst=10 || bail "reload with rate 20, burst 10"
qd -c 'TRUNCATE passed, refused'
cat >"$WORK/request_real.sql" <<'PGB'
\set t random(0, 1)
SELECT request(6, CASE WHEN :t = 0 THEN 'sk' ELSE 'pk' END);
PGB
start=$(date +%s%N)
if "$PG_BIN/pgbench" -n -c 8 -j 8 -T 2 -f "$WORK/request_real.sql" "$DB" >"$WORK/pgbench" 2>&1; then
    end=$(date +%s%N)
    read -r p r < <(qd -F ' ' -c 'SELECT (SELECT count(*) FROM passed), (SELECT count(*) FROM refused)')
    budget=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%d", 10 + 20 * (e - s) / 1e9 + 1 }')
    # Under valgrind (scripts/valgrind.sh) the sessions are too slow to reach the limit: only the
    # bound that matters, never more than the budget, can be asserted, and the name says so.
    if [[ -n ${BILLIUM_UNDER_VALGRIND:-} ]] && ((p <= budget)); then
        ok "8 sessions, real clock, under valgrind (too slow to reach the limit): $p passed, never above the budget of $budget"
    elif ((p >= 10 && p <= budget && r > 0)); then
        ok "8 sessions, real clock, rate 20 and burst 10: $p of $((p + r)) passed, within the budget of $budget"
    else
        not_ok "8 sessions, real clock: $p passed, $r refused; budget $budget"
    fi
else
    not_ok "pgbench with 8 clients (real clock)"
    diag <"$WORK/pgbench"
fi

# --- 4. eviction ------------------------------------------------------------------------------

if [[ -z ${BILLIUM_TMPDIR:-} || ! -d $DATA ]]; then
    echo "# no BILLIUM_TMPDIR: skipping the tests that restart the server"
else
    settings billium.rate_limit=1 billium.rate_burst=2 || bail "reload with rate 1, burst 2"
    q -d postgres -c "ALTER SYSTEM SET billium.rate_limit_buckets = 32" >/dev/null
    restart || bail "restart with billium.rate_limit_buckets = 32"
    C=630000000000000
    check "32 buckets: m1 spends its burst of 2" "$(req $C 1 sk 3)" "2 1"
    fill=$(for n in $(seq 2 32); do one $C "$n" pk; done | sort | uniq -c | awk '{ $1 = $1; print }')
    check "m2..m32 take the other 31 buckets" "$fill" "31 passed"
    check "the table is full of busy buckets: m33 is refused, retry in 1000 ms" "$(one $C 33 sk)" "refused 1000"
    check "m1's busy bucket was not given away: still refused" "$(one $C 1 pk)" "refused 1000"
    C1=$((C + 1000000))
    check "a second later m2..m32 are idle (full): m33 gets a bucket" "$(one $C1 33 sk)" "passed"
    check "m1 gets exactly the one token a second gave it" "$(req $C1 1 sk 2)" "1 1"

    # --- 5. without shared_preload_libraries ----------------------------------------------------

    q -d postgres -c "ALTER SYSTEM RESET billium.rate_limit_buckets" >/dev/null
    # On the command line: ALTER SYSTEM would write the empty list as '""', a library named "".
    restart "-c shared_preload_libraries=" || bail "restart without shared_preload_libraries"
    check "not preloaded: the status says why" \
        "$(qd -F ' ' -c "SELECT enabled, reason FROM billium.billium_rate_limit_status((SELECT merchant_id FROM m WHERE n = 1))")" \
        "f billium is not in shared_preload_libraries"
    check "not preloaded: keys work and nothing is limited (10 of 10 with rate 1, burst 2)" "$(req $C 1 sk 10)" "10 0"
    check "not preloaded: the gate works" \
        "$(qd -c "SELECT p.kind FROM k, billium.billium_authenticate(k.key) AS a, billium.billium_authorize('invoices.list', a.merchant_id) AS p WHERE k.n = 1 AND k.type = 'sk'")" \
        "api_key"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
