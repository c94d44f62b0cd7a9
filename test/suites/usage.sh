#!/usr/bin/env bash
#
# Key usage (issue 15): counted in shared memory, written by billium's background worker.  What
# needs restarts, several backends and crashes, which pg_regress cannot do.  Run by `make test`
# with PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster (which preloads
# billium); prints TAP lines (`ok - ...` / `not ok - ...`) and exits non-zero when anything failed.
#
#   1. restart with billium.usage_database naming this suite's database and a 1 s flush: the
#      worker connects there, and the status says this database is counted
#   2. 200 transactions from 4 backends (pgbench), each verifying key A twice: key_usage says 200
#      (once per transaction) with last_used_at from the run, within a few flushes; api_keys is
#      not written (every row's xmin, xmax and ctid unchanged)
#   3. the key cache is not emptied by usage: a backend holds key B cached while the key is
#      revoked behind the cache's back (api_keys' triggers disabled); across usage flushes it
#      keeps answering from its cache; the triggers enabled again and a real write to key B's
#      row then empty it (the test can fail)
#   4. privileges: as an ordinary role, a key with api_key:view sees its merchant's usage and no
#      other's; a key without it, and no principal, see none, through billium_key_usage() and
#      key_usage itself
#   5. a clean (fast) shutdown writes what was counted since the last flush; an immediate
#      shutdown loses those counts and only those (with a one-hour flush interval)
#   6. a full table (billium.usage_max_keys = 16): new keys go uncounted and the status counts
#      them; keys counted before keep counting; a flush makes room again
#   7. without shared_preload_libraries: keys verify, the status says why nothing is counted,
#      and the listing shows what was written before, without errors
# Every setting is reset at the end (ALTER SYSTEM RESET, a restart).
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

DB=billium_usage_$$
APP=billium_usage_app_$$
WORK=$(mktemp -d /tmp/billium_usage.XXXXXX)
chmod 755 "$WORK"
DATA=${BILLIUM_TMPDIR:-}/data
LOG=${BILLIUM_SERVER_LOG:-$BILLIUM_TMPDIR/server.log}
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

pg_ctl_as_owner() {
    local owner
    owner=$(stat -c %U "$DATA")
    if ((EUID == 0)) && [[ $owner != root ]]; then
        (cd "$BILLIUM_TMPDIR" && runuser -u "$owner" -- "$PG_BIN/pg_ctl" "$@")
    else
        "$PG_BIN/pg_ctl" "$@"
    fi
}

wait_ready() {
    local tries=100
    until "$PG_BIN/pg_isready" -q; do
        ((--tries > 0)) || return 1
        sleep 0.2
    done
}

# start [SERVER OPTIONS]
start() {
    pg_ctl_as_owner -D "$DATA" -w -s -l "$LOG" ${1:+-o "$1"} start >"$WORK/restart" 2>&1 ||
        { diag <"$WORK/restart"; return 1; }
    wait_ready
}
# restart MODE [SERVER OPTIONS]: stop (fast or immediate), then start with these options.
restart() {
    RESTARTED=1
    pg_ctl_as_owner -D "$DATA" -w -s -m "$1" stop >"$WORK/restart" 2>&1 || { diag <"$WORK/restart"; return 1; }
    start "${2:-}"
}

# The worker is connected to this suite's database.
wait_worker() {
    local tries=100
    until [[ $(q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'billium key usage' AND datname = '$DB'") == 1 ]]; do
        ((--tries > 0)) || return 1
        sleep 0.1
    done
}

# ALTER SYSTEM for NAME=VALUE (VALUE "" resets) and reload; the worker picks it up at its next
# wake-up, which the SIGHUP itself causes.
setting() {
    local name=${1%%=*} value=${1#*=}
    if [[ -z $value ]]; then
        q -d postgres -c "ALTER SYSTEM RESET $name" -c 'SELECT pg_reload_conf()' >/dev/null
    else
        q -d postgres -c "ALTER SYSTEM SET $name = '$value'" -c 'SELECT pg_reload_conf()' >/dev/null
    fi
    sleep 1.5
}

cleanup() {
    q -d postgres -c 'ALTER SYSTEM RESET billium.usage_flush_interval' -c 'SELECT pg_reload_conf()' >/dev/null 2>&1
    if ((RESTARTED)); then
        pg_ctl_as_owner -D "$DATA" -w -s -m fast stop >/dev/null 2>&1
        pg_ctl_as_owner -D "$DATA" -w -s -l "$LOG" start >/dev/null 2>&1
        wait_ready
    fi
    "$PG_BIN/dropdb" --if-exists --force "$DB" >/dev/null 2>&1
    q -d postgres -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

# count KEY_LABEL: key_usage's request_count for the key (0 when no row), as the superuser.
count() {
    qd -c "SELECT coalesce((SELECT u.request_count FROM billium.key_usage u JOIN k USING (key_id) WHERE k.label = '$1'), 0)"
}
# wait_count KEY_LABEL WANT: until key_usage says WANT, at most 15 s; prints the last count.
wait_count() {
    local tries=75 got
    while got=$(count "$1") && [[ $got != "$2" ]]; do
        ((--tries > 0)) || break
        sleep 0.2
    done
    echo "$got"
}
# use KEY_LABEL N: N transactions, each verifying the key, as the superuser.
use() { qd -c "CALL use_key('$1', $2)" >/dev/null; }

# --- fixtures -------------------------------------------------------------------------------

"$PG_BIN/createdb" "$DB" 2>"$WORK/err" || bail "create database $DB"
qd 2>"$WORK/err" >/dev/null <<SQL || bail "install billium and the fixtures"
CREATE EXTENSION billium;
CREATE EXTENSION billium_test;
CREATE ROLE $APP LOGIN;
GRANT billium_api TO $APP;
CREATE TABLE m AS SELECT label, t.merchant_id FROM unnest(ARRAY['A', 'B']) AS label,
	LATERAL billium.billium_test_merchant('usage ' || label, 'owner-' || label || '@usage.test') AS t;
-- A and B: api_key:view on their merchant; A2 on merchant A without it; N, never used.
CREATE TABLE k (label text PRIMARY KEY, merchant text, key text, key_id uuid);
INSERT INTO k (label, merchant, key)
	SELECT 'A', 'A', billium.billium_test_key(merchant_id, 'sk', '{invoice:*,api_key:view}') FROM m WHERE label = 'A'
	UNION ALL SELECT 'B', 'B', billium.billium_test_key(merchant_id, 'sk', '{invoice:*,api_key:view}') FROM m WHERE label = 'B'
	UNION ALL SELECT 'A2', 'A', billium.billium_test_key(merchant_id, 'sk', '{invoice:view}') FROM m WHERE label = 'A'
	UNION ALL SELECT 'N', 'A', billium.billium_test_key(merchant_id, 'pk', '{invoice:view}') FROM m WHERE label = 'A';
UPDATE k SET key_id = (billium.billium_key_verify(key)).key_id;
-- Keys F1..F40 of merchant B, for the full table.
INSERT INTO k (label, merchant, key)
	SELECT 'F' || n, 'B', billium.billium_test_key(m.merchant_id, 'sk', '{invoice:view}')
	FROM generate_series(1, 40) n, m WHERE m.label = 'B';
UPDATE k SET key_id = (billium.billium_key_verify(key)).key_id WHERE key_id IS NULL;
GRANT SELECT ON k TO $APP;
CREATE PROCEDURE use_key(label text, n int) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR i IN 1..n LOOP
		PERFORM billium.billium_authenticate((SELECT k.key FROM k WHERE k.label = use_key.label));
		COMMIT;
	END LOOP;
END
\$\$;
SQL
ok "fixtures: merchants A and B, keys A, B (api_key:view), A2 (without), N and F1..F40"
declare -A KEY MERCHANT
while IFS='|' read -r label key; do KEY[$label]=$key; done < <(qd -c "SELECT label, key FROM k")
while IFS='|' read -r label id; do MERCHANT[$label]=$id; done < <(qd -c "SELECT label, merchant_id FROM m")

# --- 1. the worker ----------------------------------------------------------------------------

q -d postgres -c "ALTER SYSTEM SET billium.usage_flush_interval = 1" >/dev/null 2>"$WORK/err" ||
    bail "set billium.usage_flush_interval"
OPTS="-c billium.usage_database=$DB"
restart fast "$OPTS" || bail "restart with billium.usage_database = $DB"
wait_worker && ok "the usage worker connects to billium.usage_database ($DB)" ||
    bail "the usage worker connects to billium.usage_database ($DB)"
got=$(qd -c "SELECT tracking, usage_database = current_database(), flush_interval_s, uncounted_requests FROM billium.billium_key_usage_status()")
check "status: this database is counted, flushed every second, nothing uncounted" "$got" "t|t|1|0"
got=$(q -d postgres -c "SELECT tracking || ' ' || reason FROM billium.billium_key_usage_status()" 2>/dev/null ||
    q -d postgres -c "SELECT 'no billium in postgres'")
echo "# in database postgres: $got"

# --- 2. counts from several backends; api_keys untouched ------------------------------------

keys_rows() { qd -c "SELECT string_agg(id || ' ' || xmin || ' ' || xmax || ' ' || ctid, ',' ORDER BY id) FROM billium.api_keys"; }
before_rows=$(keys_rows)
cat >"$WORK/request.sql" <<SQL
BEGIN;
SET LOCAL billium.api_key = '${KEY[A]}';
SELECT billium.billium_authorize('invoices.list', '${MERCHANT[A]}');
SELECT billium.billium_authenticate('${KEY[A]}');
COMMIT;
SQL
started=$(qd -c "SELECT now()")
if "$PG_BIN/pgbench" -n -c 4 -j 2 -t 50 -U "$APP" -f "$WORK/request.sql" "$DB" >"$WORK/pgbench" 2>&1; then
    ok "pgbench: 4 backends x 50 transactions with key A (each verifying it twice)"
else
    not_ok "pgbench: 4 backends x 50 transactions with key A"
    diag <"$WORK/pgbench"
fi
got=$(wait_count A 200)
check "key_usage: 200 requests for key A (once per transaction, from 4 backends)" "$got" 200
got=$(qd -c "SELECT u.last_used_at >= '$started' AND u.last_used_at <= now() AND u.merchant_id = '${MERCHANT[A]}' FROM billium.key_usage u JOIN k USING (key_id) WHERE k.label = 'A'")
check "key_usage: key A's last_used_at is from the run, its merchant is A" "$got" t
sleep 1.5
check "key_usage: still 200 after more flushes (nothing counted twice)" "$(count A)" 200
check "api_keys: no row written by counting or flushing (xmin, xmax, ctid unchanged)" "$(keys_rows)" "$before_rows"
got=$(qd -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'billium.key_usage'::regclass")
check "key_usage has no trigger (nothing it writes can invalidate a cache)" "$got" 0

# --- 3. the key cache survives flushes ---------------------------------------------------------

mkfifo "$WORK/session_in"
chmod 666 "$WORK/session_in"
q -d "$DB" -U "$APP" -v VERBOSITY=verbose -v ON_ERROR_STOP=0 -f "$WORK/session_in" >"$WORK/session_out" 2>"$WORK/session_err" &
SESSION_PID=$!
exec {SESSION_FD}>"$WORK/session_in"
BATCH=0
# session SQL: run SQL in the open session; got = its output, or "ERROR <code>" when it raised one.
session() {
    local marker tries=1000 errs_before errs code
    BATCH=$((BATCH + 1))
    marker="END-$BATCH"
    errs_before=$(wc -l <"$WORK/session_err")
    printf '%s\nSELECT %s;\n' "$1" "'$marker'" >&"$SESSION_FD"
    until grep -qx "$marker" "$WORK/session_out"; do
        ((--tries > 0)) || { got="TIMEOUT"; return 1; }
        sleep 0.01
    done
    got=$(sed -n "/^END-$((BATCH - 1))\$/,/^$marker\$/p" "$WORK/session_out" | grep -v '^END-')
    errs=$(tail -n +"$((errs_before + 1))" "$WORK/session_err")
    code=$(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' <<<"$errs" | head -n 1)
    [[ -z $errs ]] || got="${got:+$got }ERROR ${code:--}"
}
printf 'SELECT %s;\n' "'END-0'" >&"$SESSION_FD"
B_VERIFY="BEGIN; SET LOCAL billium.api_key = '${KEY[B]}';
SELECT (billium.billium_authorize('invoices.list', '${MERCHANT[B]}')).kind; COMMIT;"

# Without api_keys' triggers (disabling them is itself an invalidation, so it comes first), a
# revoke reaches no cache: what the open backend answers then comes from its cache.
qd -c "ALTER TABLE billium.api_keys DISABLE TRIGGER USER" 2>"$WORK/err" || not_ok "disable api_keys' triggers"
session "$B_VERIFY"
check "cache: an open backend verifies key B (now cached there)" "$got" api_key
qd -c "UPDATE billium.api_keys SET revoked_at = now() WHERE id = (SELECT key_id FROM k WHERE label = 'B')" \
    2>"$WORK/err" || not_ok "revoke key B without its invalidation trigger"
# A backend that reads the table (its key cache off: preloaded, the shared cache would answer as
# the open backend does) shows that the revocation is real.
got=$(q -d "$DB" -c "SET billium.key_cache_size = 0" -c "SET ROLE $APP" -c "BEGIN" \
    -c "SET LOCAL billium.api_key = '${KEY[B]}'" \
    -c "SELECT (billium.billium_authorize('invoices.list', '${MERCHANT[B]}')).kind" -c "COMMIT" 2>&1 |
    sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' | head -n 1)
check "cache: a backend reading the table refuses key B, revoked behind the caches' back" "$got" API_KEY_REVOKED
session "$B_VERIFY"
check "cache: the open backend still answers from its cache (the test's premise)" "$got" api_key
flushed_before=$(qd -c "SELECT last_flush_at FROM billium.billium_key_usage_status()")
use A 5
got=$(wait_count A 205)
check "cache: key A used 5 more times and flushed (205)" "$got" 205
sleep 1.5
got=$(qd -c "SELECT last_flush_at > '$flushed_before' FROM billium.billium_key_usage_status()")
check "cache: the worker flushed since" "$got" t
session "$B_VERIFY"
check "cache: across those flushes, the open backend's cached key B is still a hit" "$got" api_key
qd -c "ALTER TABLE billium.api_keys ENABLE TRIGGER USER" \
    -c "UPDATE billium.api_keys SET name = 'renamed' WHERE id = (SELECT key_id FROM k WHERE label = 'B')" 2>"$WORK/err" ||
    not_ok "enable api_keys' triggers again and rename key B"
session "$B_VERIFY"
check "cache: the triggers back and a real write to key B's row empty it: the open backend refuses key B" "$got" "ERROR API_KEY_REVOKED"
exec {SESSION_FD}>&-
wait "$SESSION_PID" 2>/dev/null
qd -c "UPDATE billium.api_keys SET revoked_at = NULL WHERE id = (SELECT key_id FROM k WHERE label = 'B')" >/dev/null

# --- 4. privileges ------------------------------------------------------------------------------

as_key() { q -d "$DB" -U "$APP" -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[$1]}'" -c "$2" -c "COMMIT"; }
use B 3
# 3 here and the open backend's 3 verifications that passed.
check "key_usage: 6 requests for key B" "$(wait_count B 6)" 6
got=$(as_key A "SELECT count(*) FILTER (WHERE merchant_id = '${MERCHANT[A]}') || ' ' || count(*) FROM billium.billium_key_usage()")
check "privileges: key A (api_key:view) lists merchant A's 3 keys only" "$got" "3 3"
got=$(as_key A "SELECT count(*) || ' ' || count(*) FILTER (WHERE merchant_id = '${MERCHANT[B]}') FROM billium.key_usage")
check "privileges: key A reads key_usage rows of merchant A, none of B" "$got" "1 0"
got=$(as_key A2 "SELECT (SELECT count(*) FROM billium.billium_key_usage()) || ' ' || (SELECT count(*) FROM billium.key_usage)")
check "privileges: key A2 (no api_key:view) sees no key and no usage" "$got" "0 0"
got=$(q -d "$DB" -U "$APP" -c "SELECT (SELECT count(*) FROM billium.billium_key_usage()) || ' ' || (SELECT count(*) FROM billium.key_usage)")
check "privileges: without a principal, no key and no usage" "$got" "0 0"
got=$(as_key B "SELECT request_count >= 6 FROM billium.billium_key_usage('${MERCHANT[B]}') WHERE key_id = (billium.billium_current_principal()).key_id")
check "privileges: key B lists its own usage" "$got" t

# --- 5. clean and immediate shutdowns -----------------------------------------------------------

# The reload wakes the worker, which flushes once more before its hour-long wait.
setting billium.usage_flush_interval=3600
base=$(count A)
use A 20
got=$(qd -c "SELECT pending_keys >= 1 FROM billium.billium_key_usage_status()")
check "shutdown: 20 requests of key A wait in memory (one-hour interval)" "$got|$(count A)" "t|$base"
restart fast "$OPTS" && wait_worker || bail "fast restart"
check "shutdown: a clean (fast) shutdown wrote them first ($base + 20)" "$(count A)" $((base + 20))
use A 20
restart immediate "$OPTS" && wait_worker || bail "immediate restart"
check "shutdown: an immediate shutdown lost the 20 unwritten requests, and only those" "$(count A)" $((base + 20))
setting billium.usage_flush_interval=1
use A 1
check "shutdown: counting goes on after the crash" "$(wait_count A $((base + 21)))" $((base + 21))

# --- 6. a full table ------------------------------------------------------------------------------

setting billium.usage_flush_interval=3600
restart fast "$OPTS -c billium.usage_max_keys=16" && wait_worker || bail "restart with billium.usage_max_keys = 16"
use A 1
qd -c "DO \$\$ BEGIN FOR i IN 1..40 LOOP CALL use_key('F' || i, 1); END LOOP; END \$\$" >/dev/null 2>"$WORK/err" ||
    not_ok "use keys F1..F40 once each"
use A 2
got=$(qd -c "SELECT max_keys, pending_keys < 41, pending_keys + uncounted_requests, uncounted_requests > 0 FROM billium.billium_key_usage_status()")
check "full: with room for 16 keys, 41 keys used: some went uncounted, and every request is either counted or uncounted" \
    "$got" "16|t|41|t"
setting billium.usage_flush_interval=1
got=$(qd -c "SELECT (SELECT count(*) FROM billium.key_usage u JOIN k USING (key_id) WHERE k.label LIKE 'F%') || ' ' || (SELECT pending_keys FROM billium.billium_key_usage_status())")
written=${got%% *}
check "full: the flush wrote the counted keys and emptied the table" "${got#* }" 0
check "full: key A, counted before the table filled, kept counting (+3)" "$(count A)" $((base + 24))
uncounted=$(qd -c "SELECT min(k.label) FROM k LEFT JOIN billium.key_usage u USING (key_id) WHERE k.label LIKE 'F%' AND u.key_id IS NULL")
if [[ -n $uncounted ]] && ((written < 40)); then
    use "$uncounted" 1
    check "full: once flushed, there is room: key $uncounted, uncounted before, is counted" "$(wait_count "$uncounted" 1)" 1
else
    not_ok "full: some key went uncounted ($written of 40 written)"
fi

# --- 7. without shared_preload_libraries --------------------------------------------------------

restart fast "-c shared_preload_libraries=''" || bail "restart without shared_preload_libraries"
got=$(qd -c "SELECT tracking || ' ' || reason FROM billium.billium_key_usage_status()")
check "not preloaded: the status says nothing is counted, and why" "$got" \
    "false billium is not in shared_preload_libraries: usage is not tracked"
use A 3
got=$(as_key A "SELECT request_count || ' ' || (last_used_at IS NOT NULL) FROM billium.billium_key_usage() WHERE key_id = (billium.billium_current_principal()).key_id")
check "not preloaded: keys verify, and the listing shows what was written before" "$got" "$((base + 24)) true"
got=$(as_key A "SELECT string_agg(k.label, ',') FROM billium.billium_key_usage() u JOIN k USING (key_id) WHERE u.last_used_at IS NULL AND u.request_count IS NULL")
check "not preloaded: key N, never used, lists a null last_used_at and count, without errors" "$got" N
restart fast && ok "restarted with the cluster's own settings" || not_ok "restart with the cluster's own settings"
RESTARTED=0

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
