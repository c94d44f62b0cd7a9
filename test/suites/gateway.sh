#!/usr/bin/env bash
#
# The reference REST gateway (examples/gateway, issue 9), driven with real HTTP requests.  Run by
# `make test` with PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster; prints
# TAP lines (`ok - ...` / `not ok - ...`) and exits non-zero when anything failed.
#
#   1. node and npm (installed with apt-get when missing, as root), `npm ci` in examples/gateway
#   2. a scratch database: CREATE EXTENSION billium, updated to the newest version installed, and
#      the test-only billium_test (the fixtures);
#      an ordinary login role granted billium_api; the HS256 secret is the server's own
#   3. fixtures as the superuser: merchants (one plain, one enforcing 2FA, one with a low rate
#      limit of its own), owner, member and viewer users, keys minted with billium_act_as and
#      billium_create_api_key (sk, narrowed sk, pk, revoked), a product
#   4. secret scanning: a second login role granted billium_scanner only, P-256 keys made with
#      openssl and GitHub's public_keys document holding one of them
#   5. the gateway started on a free port as that role; examples/gateway/test/gateway.test.js run
#      against it with node's test runner, its TAP results printed as `ok - ...` lines
#   6. after the leak reports: the audit trail has each leak with its source URL and no column of
#      it, nor of api_keys, holds a reported token
#   7. neither the gateway's log nor the server's holds a key; gateway stopped, database dropped
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DB=billium_gateway_$$
export GATEWAY_ROLE=billium_gateway_$$
WORK=$(mktemp -d /tmp/billium_gateway.XXXXXX)

# shellcheck source=examples/gateway/gateway.sh
source "$ROOT/examples/gateway/gateway.sh"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
    gateway_stop
    dropdb --if-exists "$DB" >/dev/null 2>&1
    q -d postgres -c "DROP ROLE IF EXISTS $GATEWAY_ROLE" >/dev/null 2>&1
    q -d postgres -c "DROP ROLE IF EXISTS $GATEWAY_SCANNER_ROLE" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

# --- 1. node ---------------------------------------------------------------------------

# openssl makes the secret scanning test's signing keys; the tests use node's fetch, not curl.
gateway_ensure_tools openssl 2>"$WORK/err" || bail "node, npm and openssl are available"
ok "node $(node --version), npm $(npm --version) and openssl are available"
gateway_install_deps 2>"$WORK/err" || bail "npm ci in examples/gateway"
ok "npm ci in examples/gateway installs the locked pg package"

# --- 2. database and role ------------------------------------------------------------------

createdb "$DB" 2>"$WORK/err" || bail "create the scratch database"
q -d "$DB" -c 'CREATE EXTENSION billium' 2>"$WORK/err" || bail "CREATE EXTENSION billium"
gateway_update_extension "$DB" 2>"$WORK/err" || bail "ALTER EXTENSION billium UPDATE to the newest version"
q -d "$DB" -c 'CREATE EXTENSION billium_test' 2>"$WORK/err" || bail "CREATE EXTENSION billium_test (the fixtures)"
VERSION=$(q -d "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
ok "billium $VERSION in a scratch database"

gateway_setup_role "$DB" 2>"$WORK/err" || bail "the gateway's login role"
ok "login role $GATEWAY_ROLE with billium_api only"
# The server's HS256 secret (the test cluster's postgresql.conf), as the login service holds it.
JWT_SECRET=$(gateway_jwt_secret "$DB" 2>"$WORK/err") || bail "the server's billium.jwt_secret"
gateway_setup_scanner_role "$DB" 2>"$WORK/err" || bail "the gateway's secret scanning login role"
MEMBER_OF=$(q -d "$DB" -c "SELECT string_agg(m.roleid::regrole::text, ',') FROM pg_auth_members m
    WHERE m.member = '$GATEWAY_SCANNER_ROLE'::regrole")
if [[ $MEMBER_OF == billium_scanner ]]; then
    ok "login role $GATEWAY_SCANNER_ROLE with billium_scanner only"
else
    not_ok "login role $GATEWAY_SCANNER_ROLE with billium_scanner only (member of: $MEMBER_OF)"
fi

# --- 3. fixtures ------------------------------------------------------------------------------

RATE_LIMIT=0
HAS_LIMITER=$(q -d "$DB" -c "SELECT count(*) FROM pg_attribute
    WHERE attrelid = 'billium.merchants'::regclass AND attname = 'rate_limit' AND NOT attisdropped")

umask 077 # the fixtures file holds keys
q -d "$DB" -v has_limiter="$HAS_LIMITER" -v secret="$JWT_SECRET" >"$WORK/fixtures.json" 2>"$WORK/err" <<'SQL' ||
SELECT merchant_id AS m, owner_id AS owner FROM billium.billium_test_merchant('Gateway Co', 'owner@gateway.test') \gset
SELECT billium.billium_test_member(:'m', 'member@gateway.test', 'MEMBER') AS member \gset
SELECT billium.billium_test_member(:'m', 'viewer@gateway.test', 'VIEWER') AS viewer \gset
INSERT INTO billium.products (merchant_id, name, price) VALUES (:'m', 'T-shirt', 2500) RETURNING id AS product \gset

-- The member is also on a team that requires 2FA, which they have not enabled.  The flag is set
-- at INSERT: after that, only the OWNER's dashboard session may change it.
INSERT INTO billium.merchants (name, enforce_tfa) VALUES ('Strict Co', true) RETURNING id AS strict \gset
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES (:'strict', :'member', 'MEMBER');

SELECT merchant_id AS busy, owner_id AS busy_owner FROM billium.billium_test_merchant('Busy Co', 'owner@busy.test') \gset

BEGIN;
SELECT billium.billium_act_as(:'owner') IS NOT NULL AS acting \gset
SELECT api_key AS sk FROM billium.billium_create_api_key(:'m', 'sk', '{*}', 'server') \gset
SELECT api_key AS narrow FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:create,invoice:view}', 'build server') \gset
SELECT api_key AS pk FROM billium.billium_create_api_key(:'m', 'pk', '{invoice:create,invoice:view,product:view}', 'checkout') \gset
SELECT id AS old_id, api_key AS revoked FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:view}', 'old') \gset
SELECT billium.billium_revoke_api_key(:'old_id') IS NULL AS revoking \gset
-- For the secret scanning reports: a live sk key, one to expire, a pk key.
SELECT api_key AS leak_sk FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:view}', 'leaky server') \gset
SELECT id AS leak_expired_id, api_key AS leak_expired FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:view}', 'leaky old') \gset
SELECT api_key AS leak_pk FROM billium.billium_create_api_key(:'m', 'pk', '{product:view}', 'leaky checkout') \gset
COMMIT;
UPDATE billium.api_keys SET expires_at = now() - interval '1 minute' WHERE id = :'leak_expired_id';
BEGIN;
SELECT billium.billium_act_as(:'busy_owner') IS NOT NULL AS acting \gset
SELECT api_key AS busy_sk FROM billium.billium_create_api_key(:'busy', 'sk', '{invoice:view}', 'busy server') \gset
COMMIT;

-- Busy Co's own limit: one request per 100 s with a burst of 2 (all its keys share the bucket).
\if :has_limiter
UPDATE billium.merchants SET rate_limit = 0.01, rate_burst = 2 WHERE id = :'busy';
\endif

SELECT json_build_object('merchant', :'m', 'owner', :'owner', 'member', :'member', 'viewer', :'viewer',
    'product', :'product', 'strict', :'strict', 'busy', :'busy',
    'sk', :'sk', 'narrow', :'narrow', 'pk', :'pk', 'revoked', :'revoked', 'busy_sk', :'busy_sk',
    'leak_sk', :'leak_sk', 'leak_expired', :'leak_expired', 'leak_pk', :'leak_pk',
    'unknown', billium.billium_key_generate('sk'), 'jwt_secret', :'secret');
SQL
    bail "fixtures: merchants, users, keys, a product"
umask 022
ok "fixtures: three merchants, owner/member/viewer, sk, narrowed sk, pk and revoked keys"

if [[ $HAS_LIMITER == 1 ]]; then
    STATUS=$(q -d "$DB" -c "SELECT enabled FROM billium.billium_rate_limit_status(
        (SELECT id FROM billium.merchants WHERE name = 'Busy Co'))" 2>"$WORK/err") || STATUS=
    if [[ $STATUS == t ]]; then
        RATE_LIMIT=1
        ok "the rate limiter is on for Busy Co (rate_limit 0.01/s, burst 2)"
    else
        not_ok "the rate limiter is on for Busy Co (billium_rate_limit_status says: $(q -d "$DB" -c \
            "SELECT reason FROM billium.billium_rate_limit_status()" 2>&1))"
    fi
fi

# --- 4. secret scanning: GitHub's signing keys, made here -------------------------------------

# The key GitHub would sign with, its public half in a public_keys document as GitHub publishes
# it (key_identifier: the SHA-256 of the DER public key, hex), and a key the gateway does not know.
if openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/scan.pem" 2>"$WORK/err" &&
    openssl ec -in "$WORK/scan.pem" -pubout -out "$WORK/scan.pub" 2>"$WORK/err" &&
    openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/other.pem" 2>"$WORK/err"; then
    SCAN_KEY_ID=$(openssl pkey -pubin -in "$WORK/scan.pub" -outform DER | sha256sum | cut -d' ' -f1)
    node -e 'const fs = require("fs");
        fs.writeFileSync(process.argv[1], JSON.stringify({ public_keys: [
            { key_identifier: process.argv[2], key: fs.readFileSync(process.argv[3], "utf8"), is_current: true }] }));' \
        "$WORK/public_keys.json" "$SCAN_KEY_ID" "$WORK/scan.pub"
    export GATEWAY_SCANNING_KEYS=$WORK/public_keys.json
    ok "P-256 signing keys made with openssl; the gateway's public_keys file holds one"
else
    bail "P-256 signing keys made with openssl"
fi

# --- 5. the gateway, driven over HTTP ---------------------------------------------------------

gateway_start "$DB" "$WORK/gateway.log" 2>"$WORK/err" || bail "the gateway starts"
ok "the gateway listens on $GATEWAY_URL as $GATEWAY_ROLE"

# The path from nothing to a first key (docs/ways-in.md): a user, a merchant and an sk key, then a call.
if FIRST=$(PGDATABASE=$DB bash "$ROOT/examples/gateway/first-key.sh" "first-$$@gateway.test" "First Co" 2>"$WORK/err"); then
    FIRST_M=$(sed -n 's/^merchant //p' <<<"$FIRST")
    FIRST_KEY=$(sed -n 's/^key //p' <<<"$FIRST")
    FIRST_STATUS=$(KEY=$FIRST_KEY node -e 'fetch(process.argv[1], { headers: { "x-api-key": process.env.KEY } })
        .then((r) => console.log(r.status), () => console.log("no answer"))' \
        "$GATEWAY_URL/api/v1/merchants/merchant/$FIRST_M/invoices" 2>&1 </dev/null) ||
        FIRST_STATUS=failed
    if [[ $FIRST_STATUS == 200 ]]; then
        ok "first-key.sh: a new user, their merchant and an sk key that lists its invoices (200)"
    else
        not_ok "first-key.sh: the key lists its invoices (got $FIRST_STATUS)"
    fi
else
    not_ok "first-key.sh makes a user, a merchant and a first key"
    diag <"$WORK/err"
fi

# node's TAP: top-level results `ok N - name` become `ok - name` (the harness counts those);
# subtests and YAML diagnostics are indented and shown as they are; `# pass`/`# fail` summaries too.
rc=0
(cd "$ROOT/examples/gateway" &&
    GATEWAY_URL=$GATEWAY_URL GATEWAY_FIXTURES=$WORK/fixtures.json GATEWAY_RATE_LIMIT=$RATE_LIMIT \
        GATEWAY_SCANNING_KEY=$WORK/scan.pem GATEWAY_SCANNING_KEY_ID=$SCAN_KEY_ID \
        GATEWAY_SCANNING_OTHER_KEY=$WORK/other.pem \
        PGUSER=$GATEWAY_ROLE PGDATABASE=$DB \
        node --test --test-reporter=tap test/gateway.test.js) >"$WORK/node.tap" 2>&1 || rc=$?
# The conformance suite: every action over HTTP (examples/gateway/test/conformance.test.js); its
# superuser connection opens a merchant per action and reads the audit trail.
(cd "$ROOT/examples/gateway" &&
    GATEWAY_URL=$GATEWAY_URL GATEWAY_FIXTURES=$WORK/fixtures.json CONFORMANCE_PGUSER=$PGUSER \
        PGDATABASE=$DB node --test --test-reporter=tap test/conformance.test.js) >>"$WORK/node.tap" 2>&1 || rc=$?
# A passing test's YAML block (its duration) is dropped; a failing one's is kept.
awk '
    /^TAP version|^1\.\.[0-9]|^# Subtest:/ { next }
    /^(not ok|ok) [0-9]+ - / { sub(/ [0-9]+ - /, " - "); quiet = /^ok/; print; next }
    /^  ---$/ { inyaml = 1 }
    inyaml { if (!quiet) print; if ($0 == "  ...") inyaml = 0; next }
    { print }
' "$WORK/node.tap" >"$WORK/node.out"
cat "$WORK/node.out"
NODE_PASSED=$(grep -c '^ok - ' "$WORK/node.out")
NODE_FAILED=$(grep '^not ok - ' "$WORK/node.out" | grep -vic '# *todo')
PASSED=$((PASSED + NODE_PASSED))
FAILED=$((FAILED + NODE_FAILED))
if ((rc != 0 && NODE_FAILED == 0)); then
    not_ok "node --test exited with status $rc"
elif ((NODE_PASSED == 0)); then
    not_ok "node --test ran no test"
fi
if ((NODE_FAILED > 0)); then
    echo "# the gateway's own log, but for its request lines:"
    grep -Ev '^[A-Z]+ /.* [0-9]+ms( [^ ]+)?$' "$WORK/gateway.log" | diag
fi
if [[ $RATE_LIMIT == 0 ]]; then
    echo "# the 429 test is a TODO: the rate limiter (merchants.rate_limit, billium preloaded) is not installed"
fi

# --- 6. the leak reports in the audit trail ---------------------------------------------------

LEAK_URL=https://github.com/octo/leaky/blob/main/config.js
TOKENS=$(node -e 'const f = require(process.argv[1]);
    console.log([f.leak_sk, f.leak_expired, f.leak_pk, f.revoked].join("\n"))' "$WORK/fixtures.json")
# (psql interpolates :'url' only in statements read from its input, not in -c.)
LEAKS_AUDITED=$(q -d "$DB" -v url="$LEAK_URL" 2>&1 <<<"SELECT count(*) FROM billium.audit_log
    WHERE action = 'api_keys.leak' AND after->>'leak_source_url' = :'url' AND after->>'leaked_at' IS NOT NULL")
SIGHTINGS=$(q -d "$DB" -v url="$LEAK_URL" 2>&1 <<<"SELECT count(*) FROM billium.audit_log
    WHERE action = 'api_keys.leak_sighting' AND after->>'source_url' = :'url'")
if [[ $LEAKS_AUDITED == 2 ]]; then
    ok "the audit trail has the two leaks (live and expired sk key) with their source URL"
else
    not_ok "the audit trail has the two leaks with their source URL (found: $LEAKS_AUDITED)"
fi
# Sightings: the pk key and the key revoked before, in both reports of every state; the keys the
# first revoked, in the second.
if [[ $SIGHTINGS == 6 ]]; then
    ok "the audit trail has the sightings (pk key, keys already revoked) with their source URL"
else
    not_ok "the audit trail has the 6 sightings with their source URL (found: $SIGHTINGS)"
fi
HOLDING=0
while read -r token; do
    n=$(q -d "$DB" -v t="$token" 2>&1 <<<"SELECT (SELECT count(*) FROM billium.audit_log a WHERE strpos(a::text, :'t') > 0)
        + (SELECT count(*) FROM billium.api_keys k WHERE strpos(k::text, :'t') > 0)")
    [[ $n == 0 ]] || HOLDING=1
done <<<"$TOKENS"
if ((HOLDING == 0)); then
    ok "no column of the audit trail or of api_keys holds a reported token"
else
    not_ok "no column of the audit trail or of api_keys holds a reported token"
fi

# --- 7. nothing secret in the logs ---------------------------------------------------------

gateway_stop
SECRETS=$(node -e 'const f = require(process.argv[1]);
    console.log([f.sk, f.narrow, f.pk, f.revoked, f.busy_sk, f.leak_sk, f.leak_expired, f.leak_pk,
                 f.jwt_secret].join("\n"))' "$WORK/fixtures.json")
LEAKS=0
for log in "$WORK/gateway.log" ${BILLIUM_SERVER_LOG:+"$BILLIUM_SERVER_LOG"}; do
    [[ -r $log ]] && grep -qFf <(printf '%s\n' "$SECRETS") "$log" && LEAKS=1
done
if ((LEAKS == 0)) && grep -q ' /api/v1/merchants/merchant/' "$WORK/gateway.log"; then
    ok "no key or secret in the gateway's log (method, path, status only) or the server's log"
else
    not_ok "no key or secret in the gateway's log or the server's log"
    diag <"$WORK/gateway.log"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
