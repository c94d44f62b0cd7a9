#!/usr/bin/env bash
#
# billium over PostgreSQL's logical replication (issue 12 item 5, issue 15 "regional verification"):
# an origin holding merchants, users, teams and keys, and a regional subscriber that verifies keys.
# Run by `make test` (PG_CONFIG names the build under test); prints TAP lines (`ok - ...` /
# `not ok - ...`) and exits non-zero when anything failed.  It starts two clusters of its own with
# the helpers of scripts/lib.sh (the test cluster's wal_level is not logical) and removes them.
#
#   1. an origin (wal_level = logical) and a subscriber, billium installed on both, an ordinary
#      login role granted billium_api and billium_admin on both
#   2. on the origin: merchants A and B, their teams, keys minted by A's OWNER and two ADMINs
#      through billium_act_as + billium_create_api_key; a publication of merchants, users,
#      team_members and api_keys and a replication role (REPLICATION BYPASSRLS, SELECT on those
#      four); on the subscriber a subscription connecting as that role, waited for until every
#      table is synchronised
#   3. on the subscriber: the copied keys verify; a key minted on the origin afterwards verifies
#      once applied; the lag queries of docs/replication.md answer; no ordinary billium trigger is
#      enabled for the apply worker, only the invalidation triggers
#   4. a session on the subscriber verifies keys 1, 2 and 3 (cached) and stays open; on the origin
#      key 1 is revoked, key 2's creator demoted to VIEWER and key 3's creator removed from the
#      team; once the subscriber has applied them (its reported LSN caught up with the origin's),
#      the open session and a new one refuse key 1 (API_KEY_REVOKED), cap key 2 to what a VIEWER
#      holds and leave key 3 nothing (PERMISSION_DENIED)
#   5. the audit trail stayed local: the origin logged every change, the subscriber none (the
#      audit, creator-fill and guard triggers did not fire in the apply worker)
#   6. nothing written on the subscriber grants anything: an ordinary role cannot insert a key
#      row (no privilege), and acting as the subscriber's copy of A's OWNER cannot mint a key,
#      invite, promote or revoke (billium refuses writes to a table a subscription feeds, 25006);
#      nor can a superuser's plain INSERT; a key revoked by the last row of a many-row transaction
#      is refused by the warm backend; replication still flows afterwards
#   7. drop the subscription (and with it the origin's slot), stop both clusters, remove them
set -uo pipefail

SUITE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The clusters must run the build under test: take the binaries from PG_CONFIG, as scripts/lib.sh does.
# shellcheck source=scripts/lib.sh
source "$SUITE_DIR/../../scripts/lib.sh"
billium_use_pg >/dev/null
PG_BIN=$PG_BINDIR
# shellcheck source=test/lib/suite.sh
source "$SUITE_DIR/../lib/suite.sh"

DB=billium_logical
APP=billium_logical_app
PUB=billium_regional
SUB=billium_regional_sub
REPL=billium_replicator
WAIT_SECONDS=${BILLIUM_LOGICAL_WAIT:-60}

BASE=$(mktemp -d /tmp/billium-logical.XXXXXX)
ORIGIN=$BASE/origin
SUBSCRIBER=$BASE/subscriber
WORK=$BASE/work
mkdir -p "$ORIGIN" "$SUBSCRIBER" "$WORK"
billium_pick_server_user
chmod 755 "$BASE" "$ORIGIN" "$SUBSCRIBER" "$WORK"
[[ -z $BILLIUM_SERVER_USER ]] || chown "$BILLIUM_SERVER_USER:" "$ORIGIN" "$SUBSCRIBER" "$WORK"

OPORT='' SPORT='' SESSION_PID='' SESSION_FD=''
# On the origin / the subscriber: as the superuser, and as the ordinary role.
oq() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$ORIGIN" -p "$OPORT" -U postgres -d "$DB" "$@"; }
oapp() { oq -U "$APP" "$@"; }
sq() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$SUBSCRIBER" -p "$SPORT" -U postgres -d "$DB" "$@"; }
sapp() { sq -U "$APP" "$@"; }

stop_node() {
    local dir=$1
    [[ -f $dir/data/postmaster.pid ]] || return 0
    (BILLIUM_TMPDIR=$dir billium_as_server "$PG_BIN/pg_ctl" -D "$dir/data" -m "${2:-immediate}" -w stop) >/dev/null 2>&1
}
cleanup() {
    if [[ -n $SESSION_PID ]]; then
        [[ -n $SESSION_FD ]] && exec {SESSION_FD}>&-
        kill "$SESSION_PID" 2>/dev/null
        wait "$SESSION_PID" 2>/dev/null
    fi
    # Drop the subscription first so the origin's slot goes with it (both are thrown away anyway).
    [[ -n $SPORT && -f $SUBSCRIBER/data/postmaster.pid ]] &&
        sq -c "DROP SUBSCRIPTION IF EXISTS $SUB" >/dev/null 2>&1
    stop_node "$SUBSCRIBER"
    stop_node "$ORIGIN"
    rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [[ $3 == "$2" ]]; then
        ok "$1"
    else
        not_ok "$1"
        printf 'expected: %s\n     got: %s\n' "$2" "$3" | diag
        [[ -s $WORK/err ]] && diag <"$WORK/err"
    fi
}

# refusal PSQL-FUNCTION SQL...: expects an error; prints "SQLSTATE CODE", CODE being the
# envelope's "code" (or - when the error has none), or "none -" when nothing was raised.
refusal() {
    local fn=$1 out state code
    shift
    out=$("$fn" -v VERBOSITY=verbose "$@" 2>&1 >/dev/null)
    state=$(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' <<<"$out" | head -n 1)
    code=$(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' <<<"$out" | head -n 1)
    echo "${state:-none} ${code:--}"
}

# start_node DIR FIRST-PORT [EXTRA-CONFIG]: a throwaway cluster in DIR/data, started with the
# helpers of scripts/lib.sh (in a subshell: they exit on failure).  Prints the port it took.
start_node() {
    local dir=$1 port=$2 extra=${3:-}
    (
        # shellcheck disable=SC2030 # the subshell is the point: lib.sh reads these globals
        export BILLIUM_TMPDIR=$dir BILLIUM_PORT=$port
        billium_initdb
        billium_write_config
        [[ -z $extra ]] || printf '%s\n' "$extra" >>"$dir/data/postgresql.conf"
        billium_pg_start >/dev/null
        echo "$BILLIUM_PORT_USED"
    )
}

# --- 1. two clusters --------------------------------------------------------------------------

# shellcheck disable=SC2031
OPORT=$(start_node "$ORIGIN" $((${PGPORT:-${BILLIUM_PORT:-54329}} + 11)) "wal_level = logical" 2>"$WORK/err") ||
    bail "start the origin cluster (wal_level = logical)"
SPORT=$(start_node "$SUBSCRIBER" $((OPORT + 1)) 2>"$WORK/err") || bail "start the subscriber cluster"
for port in "$OPORT" "$SPORT"; do
    dir=$ORIGIN
    [[ $port == "$SPORT" ]] && dir=$SUBSCRIBER
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >/dev/null 2>"$WORK/err" <<SQL ||
CREATE DATABASE $DB;
\c $DB
CREATE EXTENSION billium;
CREATE ROLE $APP LOGIN;
GRANT billium_api, billium_admin TO $APP;
SQL
        bail "create database $DB, billium and the role $APP on port $port"
done
check "origin (port $OPORT, wal_level $(oq -c 'SHOW wal_level')) and subscriber (port $SPORT) run billium $(oq -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")" \
    "$(oq -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")" \
    "$(sq -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")"

# --- 2. fixtures, publication, subscription -----------------------------------------------------

MA=c1000000-0000-0000-0000-00000000000a
MB=c1000000-0000-0000-0000-00000000000b
UA=d1000000-0000-0000-0000-00000000000a  # OWNER of A, creator of key 1
UA2=d1000000-0000-0000-0000-0000000000a2 # ADMIN of A, creator of key 2: demoted to VIEWER
UA3=d1000000-0000-0000-0000-0000000000a3 # ADMIN of A, creator of key 3: removed from the team
UB=d1000000-0000-0000-0000-00000000000b  # OWNER of B
UX=d1000000-0000-0000-0000-0000000000ff  # a user the subscriber tries to invite

oq >/dev/null 2>"$WORK/err" <<SQL || bail "origin: merchants, users and teams"
BEGIN;
INSERT INTO billium.merchants (id, name) VALUES ('$MA', 'regional A'), ('$MB', 'regional B');
INSERT INTO billium.users (id, email) VALUES ('$UA', 'a@regional.test'), ('$UA2', 'a2@regional.test'),
    ('$UA3', 'a3@regional.test'), ('$UB', 'b@regional.test'), ('$UX', 'x@regional.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
    ('$MA', '$UA', 'OWNER'), ('$MA', '$UA2', 'ADMIN'), ('$MA', '$UA3', 'ADMIN'), ('$MB', '$UB', 'OWNER');
COMMIT;
SQL

declare -A KEY KEY_ID
# mint LABEL USER: a key of merchant A with {invoice:*}, minted on the origin acting as USER.
mint() {
    local label id key
    read -r label id key < <(oapp -F ' ' 2>"$WORK/err" <<SQL
BEGIN;
SELECT billium.billium_act_as('$2') \g /dev/null
SELECT '$1', id, api_key FROM billium.billium_create_api_key('$MA', 'sk', '{invoice:*}', 'regional $1');
COMMIT;
SQL
    )
    [[ $label == "$1" && -n $key ]] || return 1
    KEY[$1]=$key KEY_ID[$1]=$id
}
{ mint 1 "$UA" && mint 2 "$UA2" && mint 3 "$UA3"; } || bail "origin: mint keys 1, 2 and 3 as $APP"
ok "origin: merchants, users, teams and keys 1-3 (minted through billium_act_as and billium_create_api_key)"

# As docs/replication.md sets it up: the subscription connects as a role that may replicate and
# read the four tables whole (key hashes included, past their policies), and nothing else.
oq >/dev/null 2>"$WORK/err" <<SQL || bail "origin: the replication role and CREATE PUBLICATION $PUB"
CREATE ROLE $REPL LOGIN REPLICATION BYPASSRLS;
GRANT USAGE ON SCHEMA billium TO $REPL;
GRANT SELECT ON billium.merchants, billium.users, billium.team_members, billium.api_keys TO $REPL;
CREATE PUBLICATION $PUB FOR TABLE billium.merchants, billium.users, billium.team_members, billium.api_keys;
SQL
sq -c "CREATE SUBSCRIPTION $SUB CONNECTION 'host=$ORIGIN port=$OPORT dbname=$DB user=$REPL' PUBLICATION $PUB" \
    2>"$WORK/err" || bail "subscriber: CREATE SUBSCRIPTION $SUB"

# Every table of the subscription copied and handed over to the apply worker ('r'eady).
synced=0
for _ in $(seq $((WAIT_SECONDS * 10))); do
    [[ $(sq -c "SELECT count(*) FILTER (WHERE srsubstate = 'r') || '/' || count(*) FROM pg_subscription_rel" 2>/dev/null) == 4/4 ]] &&
        { synced=1; break; }
    sleep 0.1
done
((synced)) || bail "subscriber: the 4 published tables were synchronised within $WAIT_SECONDS s"
ok "publication of merchants, users, team_members and api_keys; the subscriber synchronised all 4"

# Wait until the subscription's walsender reports the subscriber past the origin's current WAL
# position: every transaction committed on the origin so far has then been applied there.
caught_up() {
    local lsn tries=$((WAIT_SECONDS * 10))
    lsn=$(oq -c "SELECT pg_current_wal_lsn()")
    until [[ $(oq -c "SELECT coalesce(bool_and(replay_lsn >= '$lsn'::pg_lsn), false) FROM pg_stat_replication WHERE application_name = '$SUB'" 2>/dev/null) == t ]]; do
        ((--tries > 0)) || return 1
        sleep 0.1
    done
}

# --- 3. keys verify on the subscriber -------------------------------------------------------------

# verdict PSQL-FUNCTION LABEL ACTION: the key's permissions after billium_authorize, or the refusal.
verdict() {
    local out
    if out=$("$1" -v VERBOSITY=verbose -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[$2]}'" \
        -c "SELECT (billium.billium_authorize('$3', '$MA')).permissions" -c "COMMIT" 2>"$WORK/verdict_err"); then
        echo "$out"
    else
        echo "ERROR:  $(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' "$WORK/verdict_err" | head -n 1) $(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' "$WORK/verdict_err" | head -n 1)"
    fi
}
ALL='{invoice:view,invoice:create,invoice:edit,invoice:delete}'
check "subscriber: keys 1-3, copied by the initial synchronisation, verify and authorize invoices.create" \
    "$ALL $ALL $ALL" \
    "$(verdict sapp 1 invoices.create) $(verdict sapp 2 invoices.create) $(verdict sapp 3 invoices.create)"

mint 4 "$UA" || bail "origin: mint key 4 while the subscription streams"
caught_up || bail "subscriber: applied key 4 within $WAIT_SECONDS s"
check "subscriber: key 4, minted on the origin after the subscription started, verifies once applied" \
    "$ALL" "$(verdict sapp 4 invoices.create)"

# The monitoring queries of docs/replication.md: one regional node, heard from, no apply error.
got="$(oq -c "SELECT count(*) FILTER (WHERE replay_lag IS NULL OR replay_lag >= interval '0')
                 || ' ' || count(*) FILTER (WHERE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) >= 0)
            FROM pg_stat_replication WHERE application_name = '$SUB'" 2>"$WORK/err") $(sq -c "SELECT count(*) FILTER (WHERE now() - last_msg_receipt_time < interval '1 hour' AND latest_end_lsn IS NOT NULL)
            FROM pg_stat_subscription WHERE subname = '$SUB'" 2>>"$WORK/err") $(sq -c "SELECT apply_error_count + sync_error_count
            FROM pg_stat_subscription_stats WHERE subname = '$SUB'" 2>>"$WORK/err")"
check "the lag queries of docs/replication.md: the origin sees the subscriber, which heard from it lately and failed nothing" \
    "1 1 1 0" "$got"

# The apply worker runs with session_replication_role = replica: it fires only triggers enabled
# REPLICA or ALWAYS.  Those must be the invalidation triggers (row-level, and the TRUNCATE ones
# enabled ALWAYS, as an applied TRUNCATE makes every cached entry stale), and nothing else.
got=$(sq -c "SELECT string_agg(tgrelid::regclass || '.' || tgname || ' ' || tgenabled::text
                                || CASE WHEN tgtype::int & 1 = 1 THEN ' row' ELSE ' statement' END
                                || ' ' || tgfoid::regproc, ', ' ORDER BY tgrelid::regclass::text, tgname)
               FROM pg_trigger
              WHERE NOT tgisinternal AND tgenabled IN ('R', 'A')
                AND tgrelid IN ('billium.merchants'::regclass, 'billium.users'::regclass,
                                'billium.team_members'::regclass, 'billium.api_keys'::regclass)" 2>"$WORK/err")
check "subscriber: the apply worker fires the invalidation triggers of the 4 tables (row, and TRUNCATE) and no other billium trigger" \
    "billium.api_keys.api_keys_invalidate_applied R row billium.billium_invalidate_cache, billium.api_keys.api_keys_invalidate_truncate A statement billium.billium_invalidate_cache, billium.merchants.merchants_invalidate_applied R row billium.billium_invalidate_cache, billium.merchants.merchants_invalidate_truncate A statement billium.billium_invalidate_cache, billium.team_members.team_members_invalidate_applied R row billium.billium_invalidate_cache, billium.team_members.team_members_invalidate_truncate A statement billium.billium_invalidate_cache, billium.users.users_invalidate_applied R row billium.billium_invalidate_cache, billium.users.users_invalidate_truncate A statement billium.billium_invalidate_cache" \
    "$got"

# --- 4. a warm subscriber backend across a revoke, a demotion and a removal on the origin -----------

# A psql session on the subscriber that stays connected, fed through a pipe; each batch ends with a
# marker line, and its errors go to a file of their own.
mkfifo "$WORK/session_in"
sapp -v VERBOSITY=verbose -v ON_ERROR_STOP=0 -f "$WORK/session_in" >"$WORK/session_out" 2>"$WORK/session_err" &
SESSION_PID=$!
exec {SESSION_FD}>"$WORK/session_in"
BATCH=0
# session SQL: run SQL in the open session (not in a subshell: BATCH counts the batches).  Sets
# got to its output lines, then "ERROR:  <SQLSTATE> <envelope code or ->" when it raised one.
session() {
    local marker tries=$((WAIT_SECONDS * 100)) errs_before errs state code
    BATCH=$((BATCH + 1))
    marker="END-$BATCH"
    errs_before=$(wc -l <"$WORK/session_err")
    printf '%s\nSELECT %s;\n' "$1" "'$marker'" >&"$SESSION_FD"
    until grep -qx "$marker" "$WORK/session_out"; do
        ((--tries > 0)) || { got="TIMEOUT waiting for the subscriber session"; return 1; }
        sleep 0.01
    done
    got=$(sed -n "/^END-$((BATCH - 1))\$/,/^$marker\$/p" "$WORK/session_out" | grep -v '^END-')
    errs=$(tail -n +"$((errs_before + 1))" "$WORK/session_err")
    state=$(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' <<<"$errs" | head -n 1)
    code=$(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' <<<"$errs" | head -n 1)
    [[ -z $state ]] || got="${got:+$got
}ERROR:  $state ${code:--}"
}
printf 'SELECT %s;\n' "'END-0'" >&"$SESSION_FD"
# session_verdict LABEL ACTION: as verdict, in the open session.
session_verdict() {
    session "BEGIN; SET LOCAL billium.api_key = '${KEY[$1]}';
SELECT (billium.billium_authorize('$2', '$MA')).permissions; COMMIT;"
}

session_verdict 1 invoices.create && v1=$got
session_verdict 2 invoices.create && v2=$got
session_verdict 3 invoices.create && v3=$got
check "subscriber, open session: keys 1, 2 and 3 verify (and are cached) before the changes" \
    "$ALL | $ALL | $ALL" "${v1:-} | ${v2:-} | ${v3:-}"

AUDIT_BEFORE=$(oq -c "SELECT count(*) FROM billium.audit_log")
oapp >/dev/null 2>"$WORK/err" <<SQL || bail "origin: revoke key 1, demote key 2's creator, remove key 3's creator"
BEGIN;
SELECT billium.billium_act_as('$UA');
SELECT billium.billium_revoke_api_key('${KEY_ID[1]}');
COMMIT;
BEGIN;
SELECT billium.billium_act_as('$UA');
UPDATE billium.team_members SET role = 'VIEWER' WHERE merchant_id = '$MA' AND user_id = '$UA2';
COMMIT;
BEGIN;
SELECT billium.billium_act_as('$UA');
DELETE FROM billium.team_members WHERE merchant_id = '$MA' AND user_id = '$UA3';
COMMIT;
SQL
ok "origin: key 1 revoked, key 2's creator demoted to VIEWER, key 3's creator removed (as $APP acting as A's OWNER)"
check "origin: the three changes are refused there at once" \
    "ERROR:  28000 API_KEY_REVOKED | {invoice:view} | ERROR:  42501 PERMISSION_DENIED" \
    "$(verdict oapp 1 invoices.list) | $(verdict oapp 2 invoices.list) | $(verdict oapp 3 invoices.list)"

if caught_up; then
    ok "subscriber: applied the revocation, the demotion and the removal (its LSN caught up)"
else
    not_ok "subscriber: applied the revocation, the demotion and the removal within $WAIT_SECONDS s"
    oq -c "SELECT application_name, state, sent_lsn, replay_lsn, pg_current_wal_lsn() FROM pg_stat_replication" 2>&1 | diag
fi
check "subscriber: the changed rows arrived (key 1 revoked, key 2's creator VIEWER, key 3's creator gone)" \
    "1 VIEWER 0" \
    "$(sq -c "SELECT (SELECT (revoked_at IS NOT NULL)::int FROM billium.api_keys WHERE id = '${KEY_ID[1]}') || ' ' ||
                     (SELECT role FROM billium.team_members WHERE merchant_id = '$MA' AND user_id = '$UA2') || ' ' ||
                     (SELECT count(*) FROM billium.team_members WHERE merchant_id = '$MA' AND user_id = '$UA3')" 2>&1)"

session_verdict 1 invoices.list
check "subscriber, the session that had verified key 1: refused once the revocation is applied (28000 API_KEY_REVOKED)" \
    "ERROR:  28000 API_KEY_REVOKED" "$got"
session_verdict 2 invoices.create
check "subscriber, the same session: key 2 may no longer create invoices (42501 PERMISSION_DENIED)" \
    "ERROR:  42501 PERMISSION_DENIED" "$got"
session_verdict 2 invoices.list
check "subscriber, the same session: key 2 is capped to what a VIEWER may hold" "{invoice:view}" "$got"
session_verdict 3 invoices.list
check "subscriber, the same session: key 3, its creator removed from the team, holds nothing (42501 PERMISSION_DENIED)" \
    "ERROR:  42501 PERMISSION_DENIED" "$got"
check "subscriber, a new session: key 1 refused, key 2 capped to VIEWER, key 3 holds nothing" \
    "ERROR:  28000 API_KEY_REVOKED | {invoice:view} | ERROR:  42501 PERMISSION_DENIED" \
    "$(verdict sapp 1 invoices.list) | $(verdict sapp 2 invoices.list) | $(verdict sapp 3 invoices.list)"

# --- 5. the audit trail stays local ----------------------------------------------------------------

check "audit: the origin logged the revocation, the demotion and the removal; the subscriber logged nothing" \
    "3 0" \
    "$(($(oq -c "SELECT count(*) FROM billium.audit_log") - AUDIT_BEFORE)) $(sq -c "SELECT count(*) FROM billium.audit_log")"

# --- 6. nothing written on the subscriber grants anything --------------------------------------------

got=$(refusal sapp -c "INSERT INTO billium.api_keys (merchant_id, key_type, hint, key_hash, permissions, created_by)
    VALUES ('$MA', 'sk', 'x', sha256('sk_test_local'), '{*}', '$UA')")
check "subscriber: an ordinary role cannot insert a key row (42501, no privilege)" "42501 -" "$got"

got=$(refusal sapp -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" \
    -c "SELECT billium.billium_create_api_key('$MA', 'sk', '{*}', 'minted on the subscriber')" -c "COMMIT")
check "subscriber: acting as A's OWNER, billium_create_api_key is refused (25006: api_keys is fed by the subscription)" \
    "25006 -" "$got"

got=$(refusal sapp -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" \
    -c "INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES ('$MA', '$UX', 'ADMIN')" -c "COMMIT")
check "subscriber: acting as A's OWNER, inviting a user is refused (25006)" "25006 -" "$got"

got=$(refusal sapp -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" \
    -c "UPDATE billium.team_members SET role = 'ADMIN' WHERE merchant_id = '$MA' AND user_id = '$UA2'" -c "COMMIT")
check "subscriber: acting as A's OWNER, promoting the demoted VIEWER back to ADMIN is refused (25006)" "25006 -" "$got"

got=$(refusal sapp -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" \
    -c "SELECT billium.billium_revoke_api_key('${KEY_ID[4]}')" -c "COMMIT")
check "subscriber: acting as A's OWNER, revoking a key is refused too (25006: the origin manages keys)" "25006 -" "$got"

got=$(refusal sq -c "INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES ('$MB', '$UX', 'ADMIN')")
check "subscriber: a superuser's plain INSERT into team_members is refused as well (25006)" "25006 -" "$got"

check "subscriber: after the refused writes, still no key minted, no member added, the VIEWER still a VIEWER" \
    "4 3 VIEWER" \
    "$(sq -c "SELECT (SELECT count(*) FROM billium.api_keys) || ' ' || (SELECT count(*) FROM billium.team_members) || ' ' ||
                     (SELECT role FROM billium.team_members WHERE merchant_id = '$MA' AND user_id = '$UA2')" 2>&1)"

# One applied transaction of many rows: the subscriber registers one invalidation per table and
# transaction, at its first row; the last row (key 4's revocation) must still reach the warm backend.
# (A transaction writing api_keys only comes first, so the many-row one is not the first after
# another table's.)
oq -c "UPDATE billium.api_keys SET name = name || ' (renamed)' WHERE id = '${KEY_ID[1]}'" 2>"$WORK/err" ||
    bail "origin: rename key 1"
caught_up || not_ok "subscriber: applied the renaming of key 1 within $WAIT_SECONDS s"
session_verdict 4 invoices.create
check "subscriber, the open session: key 4 verifies (and is cached) before a many-row transaction" "$ALL" "$got"
oq >/dev/null 2>"$WORK/err" <<SQL || bail "origin: rename every key, then revoke key 4, in one transaction"
BEGIN;
UPDATE billium.api_keys SET name = name || ' (again)' WHERE id <> '${KEY_ID[4]}';
UPDATE billium.api_keys SET revoked_at = now() WHERE id = '${KEY_ID[4]}';
COMMIT;
SQL
caught_up || not_ok "subscriber: applied the many-row transaction within $WAIT_SECONDS s"
session_verdict 4 invoices.list
check "subscriber, the open session: key 4, revoked by the last row of a many-row transaction, is refused once applied" \
    "ERROR:  28000 API_KEY_REVOKED" "$got"

mint 5 "$UA" || bail "origin: mint key 5 after the refused writes"
if caught_up; then
    session_verdict 5 invoices.create
    check "subscriber: replication still flows; key 5, minted afterwards, verifies in the open session" "$ALL" "$got"
else
    not_ok "subscriber: applied key 5 within $WAIT_SECONDS s"
fi

# --- 7. done ----------------------------------------------------------------------------------------

exec {SESSION_FD}>&-
SESSION_FD=
wait "$SESSION_PID" 2>/dev/null
SESSION_PID=
if sq -c "DROP SUBSCRIPTION $SUB" 2>"$WORK/err" &&
    [[ $(oq -c "SELECT count(*) FROM pg_replication_slots") == 0 ]]; then
    ok "subscriber: DROP SUBSCRIPTION drops the origin's replication slot"
else
    not_ok "subscriber: DROP SUBSCRIPTION drops the origin's replication slot"
    diag <"$WORK/err"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
