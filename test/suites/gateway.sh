#!/usr/bin/env bash
#
# The reference REST gateway (examples/gateway, issue 9), driven with real HTTP requests.  Run by
# `make test` with PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster; prints
# TAP lines (`ok - ...` / `not ok - ...`) and exits non-zero when anything failed.
#
#   1. node and npm (installed with apt-get when missing, as root), `npm ci` in examples/gateway
#   2. a scratch database: CREATE EXTENSION billium, updated to the newest version installed;
#      an ordinary login role granted billium_api; the HS256 secret is the server's own
#   3. fixtures as the superuser: merchants (one plain, one enforcing 2FA, one with a low rate
#      limit of its own), owner, member and viewer users, keys minted with billium_act_as and
#      billium_create_api_key (sk, narrowed sk, pk, revoked), a product
#   4. the gateway started on a free port as that role; examples/gateway/test/gateway.test.js run
#      against it with node's test runner, its TAP results printed as `ok - ...` lines
#   5. neither the gateway's log nor the server's holds a key; gateway stopped, database dropped
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

# shellcheck disable=SC2119 # no extra tools: the tests use node's fetch, not curl
gateway_ensure_tools 2>"$WORK/err" || bail "node and npm are available"
ok "node $(node --version) and npm $(npm --version) are available"
gateway_install_deps 2>"$WORK/err" || bail "npm ci in examples/gateway"
ok "npm ci in examples/gateway installs the locked pg package"

# --- 2. database and role ------------------------------------------------------------------

createdb "$DB" 2>"$WORK/err" || bail "create the scratch database"
q -d "$DB" -c 'CREATE EXTENSION billium' 2>"$WORK/err" || bail "CREATE EXTENSION billium"
gateway_update_extension "$DB" 2>"$WORK/err" || bail "ALTER EXTENSION billium UPDATE to the newest version"
VERSION=$(q -d "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
ok "billium $VERSION in a scratch database"

gateway_setup_role "$DB" 2>"$WORK/err" || bail "the gateway's login role"
ok "login role $GATEWAY_ROLE with billium_api only"
# The server's HS256 secret (the test cluster's postgresql.conf), as the login service holds it.
JWT_SECRET=$(gateway_jwt_secret "$DB" 2>"$WORK/err") || bail "the server's billium.jwt_secret"

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
COMMIT;
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

# --- 4. the gateway, driven over HTTP ---------------------------------------------------------

gateway_start "$DB" "$WORK/gateway.log" 2>"$WORK/err" || bail "the gateway starts"
ok "the gateway listens on $GATEWAY_URL as $GATEWAY_ROLE"

# node's TAP: top-level results `ok N - name` become `ok - name` (the harness counts those);
# subtests and YAML diagnostics are indented and shown as they are; `# pass`/`# fail` summaries too.
rc=0
(cd "$ROOT/examples/gateway" &&
    GATEWAY_URL=$GATEWAY_URL GATEWAY_FIXTURES=$WORK/fixtures.json GATEWAY_RATE_LIMIT=$RATE_LIMIT \
        PGUSER=$GATEWAY_ROLE PGDATABASE=$DB \
        node --test --test-reporter=tap test/gateway.test.js) >"$WORK/node.tap" 2>&1 || rc=$?
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
    grep -v '^[A-Z]* /.* [0-9]*ms$' "$WORK/gateway.log" | diag
fi
if [[ $RATE_LIMIT == 0 ]]; then
    echo "# the 429 test is a TODO: the rate limiter (merchants.rate_limit, billium preloaded) is not installed"
fi

# --- 5. nothing secret in the logs ---------------------------------------------------------

gateway_stop
SECRETS=$(node -e 'const f = require(process.argv[1]);
    console.log([f.sk, f.narrow, f.pk, f.revoked, f.busy_sk, f.jwt_secret].join("\n"))' "$WORK/fixtures.json")
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
