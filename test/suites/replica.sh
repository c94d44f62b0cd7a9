#!/usr/bin/env bash
#
# billium on a streaming hot-standby replica (issue 7).  Run by `make test` with PGHOST, PGPORT
# and PGUSER naming a superuser of the throwaway cluster (the primary) and BILLIUM_TMPDIR its
# temp dir (data directory $BILLIUM_TMPDIR/data); prints TAP lines (`ok - ...` / `not ok - ...`)
# and exits non-zero when anything failed.
#
#   1. on the primary: a database with billium, merchants A and B, their teams and invoices, and
#      keys minted by dashboard users (billium_act_as + billium_create_api_key) as an ordinary
#      login role granted billium_api
#   2. a replica: pg_basebackup -R -X stream as the cluster's OS user, started with pg_ctl on its
#      own port and socket directory, read-only (hot standby); with the rate limiter on when this
#      build has one (billium.rate_limit)
#   3. on the replica, as the ordinary role, once the fixtures are replayed: billium_authorize
#      with a key returns that key's principal; row-level security shows the key's merchant's
#      invoices only (and none without a principal, and a dashboard user its own teams');
#      the gate refuses another merchant (MERCHANT_MISMATCH) and a missing key; a write is
#      refused as read-only (SQLSTATE 25006), through the API and directly
#   4. a session on the replica verifies key A (and B) and stays open; on the primary key A is
#      revoked and key B's creator demoted to VIEWER; once replayed, a new replica session and
#      the open one both refuse key A (API_KEY_REVOKED), and key B is capped to what a VIEWER
#      may hold: the key cache must be emptied by the replayed invalidations
#   4b. key usage (billium.usage_database naming this database on the replica): counted in the
#      replica's memory, written on neither server; the status says so
#   5. with the rate limiter: billium_authorize works on the replica (it writes no table), and
#      with a tiny rate and a burst of 2 the third request is refused (RATE_LIMITED, 53400)
#   6. promote the replica: its worker writes the usage it counted as a standby; stop the
#      replica and remove it; drop the database and the role
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

DB=billium_rep_$$
APP=billium_rep_app_$$

: "${BILLIUM_TMPDIR:?BILLIUM_TMPDIR must name the temp dir of the test cluster}"
PRIMARY_DATA=$BILLIUM_TMPDIR/data
REPLICA=$BILLIUM_TMPDIR/replica
RSOCK=$BILLIUM_TMPDIR/replica_socket
WORK=$BILLIUM_TMPDIR/replica_work
rm -rf "$REPLICA" "$RSOCK" "$WORK"
mkdir -p "$WORK" "$RSOCK"

# The server runs as the cluster's OS user (postgres when we are root).
SERVER_USER=$(stat -c %U "$PRIMARY_DATA")
as_server() {
    if ((EUID == 0)) && [[ $SERVER_USER != root ]]; then
        (cd "$BILLIUM_TMPDIR" && runuser -u "$SERVER_USER" -- "$@")
    else
        "$@"
    fi
}
((EUID != 0)) || chown "$SERVER_USER:" "$RSOCK" "$WORK"

# On the primary, as the superuser / as the ordinary role; on the replica, as the ordinary role.
q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
qapp() { q -U "$APP" "$@"; }
RPORT=
rq() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$RSOCK" -p "$RPORT" -d "$DB" -U "$APP" "$@"; }
# On the replica as the superuser (past row-level security).
rq_super() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$RSOCK" -p "$RPORT" -d "$DB" -U "${PGUSER:-postgres}" "$@"; }

SESSION_PID=
cleanup() {
    [[ -n $SESSION_PID ]] && kill "$SESSION_PID" 2>/dev/null
    if [[ -f $REPLICA/postmaster.pid ]]; then
        as_server "$PG_BIN/pg_ctl" -D "$REPLICA" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$REPLICA" "$RSOCK" "$WORK"
    "$PG_BIN/dropdb" --if-exists --force -d postgres "$DB" >/dev/null 2>&1 ||
        "$PG_BIN/dropdb" --if-exists --force "$DB" >/dev/null 2>&1
    "$PG_BIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1
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

# refusal SQL...: run on the replica as the ordinary role, expecting an error; prints
# "SQLSTATE CODE", CODE being the envelope's "code" (or - when the error has no envelope).
refusal() {
    local out state code
    out=$(rq -v VERBOSITY=verbose "$@" 2>&1 >/dev/null)
    state=$(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' <<<"$out" | head -n 1)
    code=$(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' <<<"$out" | head -n 1)
    echo "${state:-none} ${code:--}"
}

# --- 1. the primary ---------------------------------------------------------------------------

MA=a8000000-0000-0000-0000-00000000000a
MB=a8000000-0000-0000-0000-00000000000b
UA=b8000000-0000-0000-0000-00000000000a		# OWNER of A
UB=b8000000-0000-0000-0000-00000000000b		# OWNER of B
UB2=b8000000-0000-0000-0000-0000000000b2	# ADMIN of B, creator of key B

"$PG_BIN/createdb" "$DB" 2>"$WORK/err" || bail "create database $DB on the primary"
q -c "CREATE EXTENSION billium" 2>"$WORK/err" || bail "CREATE EXTENSION billium"
echo "# billium $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'") on the primary"
q -c "CREATE ROLE $APP LOGIN; GRANT billium_api, billium_admin TO $APP" 2>"$WORK/err" ||
    bail "create the ordinary login role $APP"
q >/dev/null 2>"$WORK/err" <<SQL || bail "load merchants, users, teams and invoices"
BEGIN;
INSERT INTO billium.merchants (id, name) VALUES ('$MA', 'replica A'), ('$MB', 'replica B');
INSERT INTO billium.users (id, email) VALUES ('$UA', 'a@replica.test'), ('$UB', 'b@replica.test'), ('$UB2', 'b2@replica.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
    ('$MA', '$UA', 'OWNER'), ('$MB', '$UB', 'OWNER'), ('$MB', '$UB2', 'ADMIN');
INSERT INTO billium.invoices (merchant_id, amount) SELECT '$MA', g FROM generate_series(1, 3) g;
INSERT INTO billium.invoices (merchant_id, amount) SELECT '$MB', g FROM generate_series(1, 4) g;
COMMIT;
SQL
qapp -F ' ' >"$WORK/keys" 2>"$WORK/err" <<SQL || bail "mint keys A and B as $APP"
BEGIN;
SELECT billium.billium_act_as('$UA') \g /dev/null
SELECT 'A', id, api_key FROM billium.billium_create_api_key('$MA', 'sk', '{invoice:*}', 'replica A');
COMMIT;
BEGIN;
SELECT billium.billium_act_as('$UB2') \g /dev/null
SELECT 'B', id, api_key FROM billium.billium_create_api_key('$MB', 'sk', '{invoice:*}', 'replica B');
COMMIT;
SQL
declare -A KEY KEY_ID
while read -r label id key; do KEY[$label]=$key KEY_ID[$label]=$id; done <"$WORK/keys"
[[ -n ${KEY[A]:-} && -n ${KEY[B]:-} ]] || bail "expected keys A and B"
ok "primary: fixtures and keys minted through billium_act_as and billium_create_api_key as $APP"

# --- 2. the replica -----------------------------------------------------------------------------

pq_primary() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
senders=$(pq_primary -c "SHOW max_wal_senders")
wal_level=$(pq_primary -c "SHOW wal_level")
if [[ $wal_level == minimal ]] || ((senders == 0)); then
    bail "the primary cannot stream (wal_level $wal_level, max_wal_senders $senders)"
fi
# initdb's trust pg_hba.conf normally allows local replication; add it when it does not.
if [[ $(pq_primary -c "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY (database) AND type = 'local' AND error IS NULL") == 0 ]]; then
    echo "# adding 'local replication all trust' to the primary's pg_hba.conf"
    as_server sh -c "echo 'local replication all trust' >>'$PRIMARY_DATA/pg_hba.conf'" &&
        pq_primary -c "SELECT pg_reload_conf()" >/dev/null || bail "allow local replication on the primary"
fi

if as_server "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "${PGUSER:-postgres}" -D "$REPLICA" \
    -R -X stream -c fast >"$WORK/err" 2>&1; then
    ok "pg_basebackup -R -X stream of the primary"
else
    bail "pg_basebackup -R -X stream of the primary"
fi

free_port() {
    local port=$1
    while (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null || [[ -e $RSOCK/.s.PGSQL.$port ]]; do ((port++)); done
    echo "$port"
}
RPORT=$(free_port $((PGPORT + 1)))
# The primary's settings came along in postgresql.conf (billium preloaded); the replica gets its
# own port and socket directory, no TCP listener, and the rate limiter when there is one.
LIMITER=0
[[ $(pq_primary -c "SELECT count(*) FROM pg_settings WHERE name = 'billium.rate_limit'") == 1 ]] && LIMITER=1
as_server sh -c "cat >>'$REPLICA/postgresql.auto.conf'" <<EOF
port = $RPORT
unix_socket_directories = '$RSOCK'
listen_addresses = ''
hot_standby = on
EOF
# Key usage counted on the replica in this suite's database, flushed (were it a primary) every second.
USAGE=0
[[ $(pq_primary -c "SELECT count(*) FROM pg_settings WHERE name = 'billium.usage_database'") == 1 ]] && USAGE=1
if ((USAGE)); then
    as_server sh -c "cat >>'$REPLICA/postgresql.auto.conf'" <<EOF
billium.usage_database = '$DB'
billium.usage_flush_interval = 1
EOF
fi
if ((LIMITER)); then
    as_server sh -c "cat >>'$REPLICA/postgresql.auto.conf'" <<EOF
billium.rate_limit = 1000
billium.rate_burst = 1000
EOF
fi
if as_server "$PG_BIN/pg_ctl" -D "$REPLICA" -l "$WORK/replica.log" -w -t 60 start >"$WORK/err" 2>&1; then
    :
else
    cat "$WORK/replica.log" >>"$WORK/err" 2>/dev/null
    bail "start the replica on port $RPORT"
fi
up=0
for _ in $(seq 100); do
    [[ $(rq -c "SELECT pg_is_in_recovery()" 2>/dev/null) == t ]] && { up=1; break; }
    sleep 0.1
done
((up)) || { cp "$WORK/replica.log" "$WORK/err" 2>/dev/null; bail "the replica accepts $APP and is in recovery"; }
ok "the replica runs as a hot standby on port $RPORT${LIMITER:+ }$( ((LIMITER)) && echo "(rate limiter on: 1000/s, burst 1000)")"

# Wait until the replica has replayed everything the primary has written so far.
replayed() {
    local lsn tries=300
    lsn=$(pq_primary -c "SELECT pg_current_wal_lsn()")
    while [[ $(rq -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null) != t ]]; do
        ((--tries > 0)) || return 1
        sleep 0.1
    done
}
replayed && ok "the replica replayed the fixtures" || bail "the replica replayed the fixtures within 30 s"

# --- 3. verification, the gate and row-level security, read-only --------------------------------

got=$(rq -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[A]}'" \
    -c "SELECT p.kind || ' ' || p.key_id || ' ' || p.merchant_id || ' ' || p.permissions::text FROM billium.billium_authorize('invoices.list', '$MA') p" \
    -c "COMMIT" 2>"$WORK/err")
check "replica: billium_authorize with key A returns key A's principal" \
    "api_key ${KEY_ID[A]} $MA {invoice:view,invoice:create,invoice:edit,invoice:delete}" "$got"

got=$(rq -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[A]}'" \
    -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE merchant_id = '$MA') FROM billium.invoices" -c "COMMIT" 2>"$WORK/err")
check "replica: row-level security shows key A its merchant's 3 invoices and no others" "3 3" "$got"

got=$(rq -c "BEGIN" -c "SELECT billium.billium_authenticate('${KEY[B]}') IS NOT NULL" \
    -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE merchant_id = '$MB') FROM billium.invoices" -c "COMMIT" 2>"$WORK/err" | tail -n 1)
check "replica: billium_authenticate with key B; it sees its merchant's 4 invoices only" "4 4" "$got"

got=$(rq -c "SELECT coalesce(billium.billium_current_principal()::text, 'none') || ' ' || (SELECT count(*) FROM billium.invoices)" 2>"$WORK/err")
check "replica: with no principal there is no caller and no invoice is visible" "none 0" "$got"

got=$(rq -c "BEGIN" -c "SELECT billium.billium_act_as('$UB') IS NOT NULL" \
    -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE merchant_id = '$MB') FROM billium.invoices" -c "COMMIT" 2>"$WORK/err" | tail -n 1)
check "replica: a dashboard user (billium_act_as) sees its team's 4 invoices only" "4 4" "$got"

got=$(refusal -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[A]}'" -c "SELECT billium.billium_authorize('invoices.list', '$MB')")
check "replica: the gate refuses key A on merchant B (42501 MERCHANT_MISMATCH)" "42501 MERCHANT_MISMATCH" "$got"

got=$(refusal -c "SELECT billium.billium_authorize('invoices.list', '$MA')")
check "replica: the gate refuses a request without a key (28000 API_KEY_MISSING)" "28000 API_KEY_MISSING" "$got"

got=$(refusal -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[A]}'" -c "INSERT INTO billium.invoices (merchant_id, amount) VALUES ('$MA', 1)")
check "replica: an INSERT allowed by the policies is refused as read-only (25006)" "25006 -" "$got"

got=$(refusal -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" \
    -c "SELECT billium.billium_create_api_key('$MA', 'sk', '{invoice:view}', 'on the replica')")
check "replica: billium_create_api_key is refused as read-only (25006)" "25006 -" "$got"

got=$(refusal -c "BEGIN" -c "SELECT billium.billium_act_as('$UA')" -c "SELECT billium.billium_revoke_api_key('${KEY_ID[A]}')")
check "replica: billium_revoke_api_key is refused as read-only (25006)" "25006 -" "$got"

# --- 4. revocation and demotion on the primary, seen by an open replica session ------------------

# A psql session on the replica that stays connected, fed through a pipe; each batch ends with
# a marker line, and its errors go to a file of their own.
mkfifo "$WORK/session_in"
rq -v VERBOSITY=verbose -v ON_ERROR_STOP=0 -f "$WORK/session_in" >"$WORK/session_out" 2>"$WORK/session_err" &
SESSION_PID=$!
exec {SESSION_FD}>"$WORK/session_in"
BATCH=0
# session SQL: run SQL in the open session (not in a subshell: BATCH counts the batches).  Sets
# got to its output lines, then "ERROR:  <SQLSTATE> <envelope code or ->" when it raised one.
session() {
    local marker tries=1000 errs_before errs state code
    BATCH=$((BATCH + 1))
    marker="END-$BATCH"
    errs_before=$(wc -l <"$WORK/session_err")
    printf '%s\nSELECT %s;\n' "$1" "'$marker'" >&"$SESSION_FD"
    until grep -qx "$marker" "$WORK/session_out"; do
        ((--tries > 0)) || { got="TIMEOUT waiting for the replica session"; return 1; }
        sleep 0.01
    done
    got=$(sed -n "/^END-$((BATCH - 1))\$/,/^$marker\$/p" "$WORK/session_out" | grep -v '^END-')
    errs=$(tail -n +"$((errs_before + 1))" "$WORK/session_err")
    state=$(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' <<<"$errs" | head -n 1)
    code=$(sed -n 's/^.*"code":"\([A-Z_]*\)".*$/\1/p' <<<"$errs" | head -n 1)
    [[ -z $state ]] || got="${got:+$got
}ERROR:  $state ${code:--}"
}
# The first batch has no END-0 before it.
printf 'SELECT %s;\n' "'END-0'" >&"$SESSION_FD"

session "BEGIN; SET LOCAL billium.api_key = '${KEY[A]}';
SELECT (billium.billium_authorize('invoices.list', '$MA')).key_id; COMMIT;
BEGIN; SET LOCAL billium.api_key = '${KEY[B]}';
SELECT (billium.billium_authorize('invoices.create', '$MB')).permissions; COMMIT;"
check "replica, open session: keys A and B verify (and are cached) before the changes" \
    "${KEY_ID[A]}
{invoice:view,invoice:create,invoice:edit,invoice:delete}" "$got"

qapp >/dev/null 2>"$WORK/err" <<SQL || bail "revoke key A and demote key B's creator on the primary"
BEGIN;
SELECT billium.billium_act_as('$UA');
SELECT billium.billium_revoke_api_key('${KEY_ID[A]}');
COMMIT;
BEGIN;
SELECT billium.billium_act_as('$UB');
UPDATE billium.team_members SET role = 'VIEWER' WHERE merchant_id = '$MB' AND user_id = '$UB2';
COMMIT;
SQL
ok "primary: key A revoked, key B's creator demoted to VIEWER (as $APP, acting as the OWNERs)"
replayed && ok "the replica replayed the revocation and the demotion" ||
    not_ok "the replica replayed the revocation and the demotion within 30 s"

got=$(refusal -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[A]}'" -c "SELECT billium.billium_authorize('invoices.list', '$MA')")
check "replica, new session: key A is refused once the revocation is replayed (28000 API_KEY_REVOKED)" \
    "28000 API_KEY_REVOKED" "$got"

session "BEGIN; SET LOCAL billium.api_key = '${KEY[A]}';
SELECT (billium.billium_authorize('invoices.list', '$MA')).key_id; COMMIT;"
check "replica, the session that had verified key A: refused too (28000 API_KEY_REVOKED)" \
    "ERROR:  28000 API_KEY_REVOKED" "$got"

session "BEGIN; SET LOCAL billium.api_key = '${KEY[B]}';
SELECT (billium.billium_current_principal()).permissions; COMMIT;"
check "replica, the same session: key B is capped to what a VIEWER may hold" "{invoice:view}" "$got"

session "BEGIN; SET LOCAL billium.api_key = '${KEY[B]}';
SELECT billium.billium_authorize('invoices.create', '$MB') IS NOT NULL; COMMIT;"
check "replica, the same session: key B may no longer create invoices (42501 PERMISSION_DENIED)" \
    "ERROR:  42501 PERMISSION_DENIED" "$got"

session "SELECT coalesce(billium.billium_current_principal()::text, 'none') || ' ' || (SELECT count(*) FROM billium.invoices);"
check "replica, the same session: nothing of key B is left after its transaction" "none 0" "$got"

exec {SESSION_FD}>&-
wait "$SESSION_PID" 2>/dev/null
SESSION_PID=

# --- 4b. key usage on the replica: counted in its memory, never written there ----------------------

if ((USAGE)); then
    got=$(rq -c "SELECT tracking || ' ' || reason FROM billium.billium_key_usage_status()" 2>"$WORK/err")
    check "replica, key usage: counted here, and the status says it is written only after a promotion" \
        "true counted in this hot standby's memory; written only if it is promoted" "$got"
    for _ in 1 2 3; do
        rq -c "BEGIN" -c "SELECT billium.billium_authenticate('${KEY[B]}') IS NULL" -c "COMMIT" >/dev/null 2>"$WORK/err"
    done
    sleep 2.5
    got=$(rq -c "SELECT pending_keys >= 1 FROM billium.billium_key_usage_status()" 2>"$WORK/err")
    got="$got $(q -c "SELECT count(*) FROM billium.key_usage") $(rq_super -c "SELECT count(*) FROM billium.key_usage" 2>>"$WORK/err")"
    check "replica, key usage: 3 verifications of key B wait in the replica's memory; key_usage is empty on both servers" \
        "t 0 0" "$got"
else
    echo "# no billium.usage_database setting in this build: the key usage checks are skipped"
fi

# --- 5. the rate limiter on the replica -----------------------------------------------------------

if ((LIMITER)); then
    got=$(rq -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[B]}'" \
        -c "SELECT (billium.billium_authorize('invoices.list', '$MB')).key_id" -c "COMMIT" 2>"$WORK/err")
    check "replica, rate limiter on (1000/s): billium_authorize works read-only" "${KEY_ID[B]}" "$got"

    # A tiny rate and a burst of 2: two requests pass, the third is refused.
    as_server sh -c "cat >>'$REPLICA/postgresql.auto.conf'" <<EOF
billium.rate_limit = 0.001
billium.rate_burst = 2
EOF
    as_server "$PG_BIN/pg_ctl" -D "$REPLICA" reload >/dev/null 2>&1
    for _ in $(seq 50); do
        [[ $(rq -c "SHOW billium.rate_burst" 2>/dev/null) == 2 ]] && break
        sleep 0.1
    done
    verdicts=()
    for i in 1 2 3; do
        verdicts+=("$(refusal -c "BEGIN" -c "SET LOCAL billium.api_key = '${KEY[B]}'" \
            -c "SELECT billium.billium_authorize('invoices.list', '$MB')" -c "COMMIT")")
    done
    check "replica, rate limiter at 0.001/s with a burst of 2: two requests pass, the third is refused (53400 RATE_LIMITED)" \
        "none - | none - | 53400 RATE_LIMITED" "${verdicts[0]} | ${verdicts[1]} | ${verdicts[2]}"
else
    echo "# no billium.rate_limit setting in this build: the rate limiter checks are skipped"
fi

# --- 6. done ---------------------------------------------------------------------------------------

# Promoted, the replica writes the usage it counted while a standby.
if ((USAGE)); then
    if as_server "$PG_BIN/pg_ctl" -D "$REPLICA" -w promote >"$WORK/err" 2>&1; then
        got=0
        for _ in $(seq 100); do
            got=$(rq_super -c "SELECT count(*) FROM billium.key_usage WHERE key_id = '${KEY_ID[B]}' AND request_count >= 3 AND last_used_at IS NOT NULL" 2>/dev/null)
            [[ $got == 1 ]] && break
            sleep 0.1
        done
        check "promoted: the replica's worker writes key B's usage counted while it was a standby" 1 "$got"
    else
        not_ok "promote the replica"
        diag <"$WORK/err"
    fi
fi

if as_server "$PG_BIN/pg_ctl" -D "$REPLICA" -m fast -w stop >"$WORK/err" 2>&1; then
    ok "the replica stops cleanly"
else
    not_ok "the replica stops cleanly"
    diag <"$WORK/err"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
