#!/usr/bin/env bash
#
# After the SQL walk-through: the same database served over HTTP by the reference gateway
# (examples/gateway), and the spec's requests made with curl, each printed with its answer.
# Run by scripts/demo.sh with the cluster's PG* variables (a superuser) and PGDATABASE=billium_demo.
# Keys are printed shortened to their first 8 characters, never whole.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=examples/gateway/gateway.sh
source "$ROOT/examples/gateway/gateway.sh"

DB=${BILLIUM_DEMO_DB:-${PGDATABASE:-billium_demo}}
ACME=b0000000-0000-0000-0000-000000000001
ACME_OWNER=a0000000-0000-0000-0000-000000000001
WORK=$(mktemp -d /tmp/billium_demo_gateway.XXXXXX)
RATE_LIMITED=0

cleanup() {
    gateway_stop
    # Leave no limit behind on Acme for whoever keeps the cluster (BILLIUM_KEEP=1) to poke at.
    if ((RATE_LIMITED)); then
        gateway_psql -d "$DB" -c "UPDATE billium.merchants SET rate_limit = NULL, rate_burst = NULL
            WHERE id = '$ACME'" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n== %s ==\n' "$*"; }

# --- setup: node, the gateway's role, fresh keys ---------------------------------------------

gateway_ensure_tools curl openssl
gateway_install_deps
gateway_update_extension "$DB" >/dev/null
gateway_setup_role "$DB"
# The server's billium.jwt_secret (the demo cluster's postgresql.conf), as the login service holds it.
JWT_SECRET=$(gateway_jwt_secret "$DB")
HAS_LIMITER=$(gateway_psql -d "$DB" -At -c "SELECT count(*) FROM pg_attribute
    WHERE attrelid = 'billium.merchants'::regclass AND attname = 'rate_limit' AND NOT attisdropped")

# The walk-through's keys lived in a temp table, gone now: the owner mints two more.  A new hire
# joins as VIEWER without 2FA; Acme requires it (the walk-through's step 27 turned it on; if not,
# the owner turns it on here, through a dashboard session as it must).
OWNER_TOKEN=$(BILLIUM_JWT_SECRET=$JWT_SECRET node "$GATEWAY_DIR/sign-session.js" "$ACME_OWNER")
IFS='|' read -r SK PK NEWHIRE LEAKY < <(gateway_psql -d "$DB" -At -v m="$ACME" -v owner="$ACME_OWNER" \
    -v owner_token="$OWNER_TOKEN" <<'SQL'
INSERT INTO billium.users (email) VALUES ('newhire@acme.test') ON CONFLICT (email) DO NOTHING;
SELECT id AS newhire FROM billium.users WHERE email = 'newhire@acme.test' \gset
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES (:'m', :'newhire', 'VIEWER')
    ON CONFLICT DO NOTHING;
SELECT NOT enforce_tfa AS turn_on FROM billium.merchants WHERE id = :'m' \gset
\if :turn_on
BEGIN;
SELECT set_config('billium.session', :'owner_token', true) IS NOT NULL AS presented \gset
UPDATE billium.merchants SET enforce_tfa = true WHERE id = :'m';
COMMIT;
\endif
BEGIN;
SELECT billium.billium_act_as(:'owner') IS NOT NULL AS acting \gset
SELECT api_key AS sk FROM billium.billium_create_api_key(:'m', 'sk',
    '{invoice:*,product:view,webhook:*,team:view}', 'gateway demo server') \gset
SELECT api_key AS pk FROM billium.billium_create_api_key(:'m', 'pk',
    '{invoice:create,invoice:view,product:view}', 'gateway demo checkout') \gset
SELECT api_key AS leaky FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:view}', 'gateway demo, leaked') \gset
COMMIT;
SELECT :'sk' || '|' || :'pk' || '|' || :'newhire' || '|' || :'leaky';
SQL
)
NEWHIRE_TOKEN=$(BILLIUM_JWT_SECRET=$JWT_SECRET node "$GATEWAY_DIR/sign-session.js" "$NEWHIRE")

# Secret scanning: GitHub's signing key is played by a P-256 key made here; its public half goes in
# a public_keys document as GitHub publishes it, and the scanning pool logs in as a role granted
# billium_scanner only.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/github.pem" 2>/dev/null
openssl ec -in "$WORK/github.pem" -pubout -out "$WORK/github.pub" 2>/dev/null
SCAN_KEY_ID=$(openssl pkey -pubin -in "$WORK/github.pub" -outform DER | sha256sum | cut -d' ' -f1)
node -e 'const fs = require("fs");
    fs.writeFileSync(process.argv[1], JSON.stringify({ public_keys: [
        { key_identifier: process.argv[2], key: fs.readFileSync(process.argv[3], "utf8"), is_current: true }] }));' \
    "$WORK/public_keys.json" "$SCAN_KEY_ID" "$WORK/github.pub"
GATEWAY_SCANNING_KEYS=$WORK/public_keys.json
gateway_setup_scanner_role "$DB"

echo '{}' >"$WORK/origins.json"
CORS_ALLOWED_ORIGINS=http://shop.acme.test CORS_MERCHANT_ORIGINS_FILE=$WORK/origins.json \
    gateway_start "$DB" "$WORK/gateway.log"
BASE=/api/v1/merchants/merchant/$ACME
cat <<EOF
The reference gateway (examples/gateway/server.js, Node.js with the pg package) now serves
$DB at $GATEWAY_URL, logged in as $GATEWAY_ROLE, an ordinary role granted billium_api.
Per request: BEGIN; the x-api-key (or bearer session) as a bind parameter for this transaction
only; billium_authorize(action, merchant from the path); the query under row-level security;
COMMIT.  A refusal is the database's JSON envelope, sent on untouched with its HTTP status.
The Acme owner minted a secret key ${SK:0:8}... and a public key ${PK:0:8}... for this part.
EOF

# request METHOD PATH [x-api-key VALUE | bearer TOKEN | -] [JSON body]: print the request (secrets
# shortened), make it with curl, print the status line (and Retry-After) and the JSON body.
request() {
    local method=$1 path=$2 kind=${3:--} secret=${4:-} body=${5:-} shown=() args=()
    case $kind in
    x-api-key)
        args+=(-H "x-api-key: $secret")
        shown+=("-H 'x-api-key: ${secret:0:8}...'")
        ;;
    bearer)
        args+=(-H "authorization: Bearer $secret")
        shown+=("-H 'authorization: Bearer ${secret:0:8}...'")
        ;;
    esac
    # From a page: ORIGIN=... adds its Origin header; PREFLIGHT=METHOD makes the request the
    # browser's OPTIONS preflight for METHOD.
    if [[ -n ${ORIGIN:-} ]]; then
        args+=(-H "origin: $ORIGIN")
        shown+=("-H 'origin: $ORIGIN'")
    fi
    if [[ -n ${PREFLIGHT:-} ]]; then
        args+=(-H "access-control-request-method: $PREFLIGHT" -H 'access-control-request-headers: content-type,x-api-key')
        shown+=("-H 'access-control-request-method: $PREFLIGHT' -H 'access-control-request-headers: content-type,x-api-key'")
    fi
    if [[ -n $body ]]; then
        args+=(-H 'content-type: application/json' -d "$body")
        shown+=("-H 'content-type: application/json' -d '$body'")
    fi
    printf '\n$ curl -X %s %s%s' "$method" "$GATEWAY_URL" "$path"
    ((${#shown[@]} == 0)) || printf ' \\\n    %s' "${shown[@]}"
    echo
    curl -sS -X "$method" "${args[@]}" -D "$WORK/headers" -o "$WORK/body" "$GATEWAY_URL$path"
    head -n1 "$WORK/headers" | tr -d '\r'
    grep -i '^retry-after:' "$WORK/headers" | tr -d '\r' || true
    [[ -z ${ORIGIN:-} ]] || grep -i '^access-control-' "$WORK/headers" | tr -d '\r' || true
    [[ -s $WORK/body ]] || return 0 # a granted preflight has no body
    # One array element per line, so a list stays readable.
    node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(Array.isArray(v) ? (v.length ? "[\n  " + v.map((x) => JSON.stringify(x)).join(",\n  ") + "\n]" : "[]") : JSON.stringify(v));' \
        "$WORK/body"
}

say "1. The spec's first request: list Acme's invoices with the secret key (200)"
request GET "$BASE/invoices" x-api-key "$SK"

say "2. The public key creates an invoice at checkout for a product, at its price (201)"
request POST "$BASE/invoices" x-api-key "$PK" '{"product_id":"d0000000-0000-0000-0000-000000000001","description":"Acme: gateway checkout"}'
INVOICE=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).id)' "$WORK/body")

say "3. ... and retrieves it, but may not list: 403 SECRET_KEY_REQUIRED"
request GET "$BASE/invoices/$INVOICE" x-api-key "$PK"
request GET "$BASE/invoices" x-api-key "$PK"

say "4. No key, and a malformed key: 401 (the key is never echoed back)"
request GET "$BASE/invoices"
request GET "$BASE/invoices" x-api-key "sk_live_not-a-real-key"

say "5. The secret key cancels the checkout invoice (200)"
request POST "$BASE/invoices/$INVOICE/cancel" x-api-key "$SK"

say "6. A dashboard session of a new hire without 2FA, on a team that requires it: 403 with the missing factors"
request GET "$BASE/invoices" bearer "$NEWHIRE_TOKEN"

# report BODY [SIGNATURE]: POST it to /secret-scanning/verify signed as GitHub would (ECDSA P-256,
# SHA-256, DER, base64), printed with the token shortened.
report() {
    local body=$1 signature=${2:-}
    printf '%s' "$body" >"$WORK/report.json"
    [[ -n $signature ]] || signature=$(openssl dgst -sha256 -sign "$WORK/github.pem" "$WORK/report.json" | base64 -w0)
    printf '\n$ curl -X POST %s/secret-scanning/verify \\\n    -H "Github-Public-Key-Identifier: %s..." -H "Github-Public-Key-Signature: %s..." \\\n    -d %s\n' \
        "$GATEWAY_URL" "${SCAN_KEY_ID:0:8}" "${signature:0:8}" "'${body//$LEAKY/${LEAKY:0:8}...}'"
    curl -sS -X POST -H 'content-type: application/json' -H "Github-Public-Key-Identifier: $SCAN_KEY_ID" \
        -H "Github-Public-Key-Signature: $signature" --data-binary "@$WORK/report.json" \
        -D "$WORK/headers" -o "$WORK/body" "$GATEWAY_URL/secret-scanning/verify"
    head -n1 "$WORK/headers" | tr -d '\r'
    sed "s/$LEAKY/${LEAKY:0:8}.../g" "$WORK/body"
    echo
}

say "7. The key leaks into a public repository; GitHub's secret scanning reports it, signed"
request GET "$BASE/invoices" x-api-key "$LEAKY"
LEAK_REPORT='[{"token":"'$LEAKY'","type":"billium_secret_key","url":"https://github.com/acme/shop/blob/main/.env","source":"content"}]'
echo "(a report whose signature does not match its body: 401, and nothing changes)"
report "$LEAK_REPORT" "$(printf 'other body' | openssl dgst -sha256 -sign "$WORK/github.pem" | base64 -w0)"
report "$LEAK_REPORT"
echo "(the key was revoked in the report's transaction; its owner's logs say why)"
request GET "$BASE/invoices" x-api-key "$LEAKY"

say "8. From a browser: CORS for the pk key, and a secret key refused there"
SHOP=http://shop.acme.test
echo "(the gateway allows $SHOP for every merchant: CORS_ALLOWED_ORIGINS; per merchant: CORS_MERCHANT_ORIGINS_FILE)"
echo "(the browser's preflight, then the call itself; a browser sends both, with its Origin header)"
ORIGIN=$SHOP PREFLIGHT=POST request OPTIONS "$BASE/invoices"
ORIGIN=$SHOP request POST "$BASE/invoices" x-api-key "$PK" '{"product_id":"d0000000-0000-0000-0000-000000000001","description":"Acme: from a page"}'
echo "(an origin the gateway does not know: no grant, so the browser never sends the call)"
ORIGIN=https://evil.example PREFLIGHT=POST request OPTIONS "$BASE/invoices"
echo "(a secret key from a page: 403 SECRET_KEY_IN_BROWSER; the key stays live, revoking it is the owner's call)"
ORIGIN=$SHOP request GET "$BASE/invoices" x-api-key "$SK"

# The checkout page (examples/checkout) on its own origin, in headless Chromium when it is here.
if [[ -x /usr/bin/chromium ]] && (cd "$ROOT/examples/checkout" &&
    npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    PRODUCT=d0000000-0000-0000-0000-000000000001 # the walk-through's T-shirt
    CHECKOUT_GATEWAY_URL=$GATEWAY_URL CHECKOUT_MERCHANT_ID=$ACME CHECKOUT_PK_KEY=$PK CHECKOUT_PRODUCT_ID=$PRODUCT \
        PORT=0 node "$ROOT/examples/checkout/serve.js" >"$WORK/checkout.log" 2>&1 &
    CHECKOUT_PID=$!
    for _ in $(seq 50); do
        CHECKOUT_URL=$(grep -m1 -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/checkout.log") && break
        sleep 0.1
    done
    # Acme's own list of origins gains the page's (the gateway reads the file again when it changes).
    printf '{"%s": ["%s"]}\n' "$ACME" "$CHECKOUT_URL" >"$WORK/origins.json"
    echo
    echo "The checkout page (examples/checkout) at $CHECKOUT_URL, added to Acme's origins, in headless Chromium:"
    node "$ROOT/examples/checkout/drive.js" "$CHECKOUT_URL" "$WORK/checkout.png" | sed 's/^/  /' || true
    kill "$CHECKOUT_PID" 2>/dev/null || true
    wait "$CHECKOUT_PID" 2>/dev/null || true
else
    echo "(the checkout page in a browser is skipped: no /usr/bin/chromium; apt-get install chromium)"
fi

say "9. Rate limits: all of a merchant's keys share one bucket"
if [[ $HAS_LIMITER == 1 ]]; then
    echo "(as the superuser: UPDATE billium.merchants SET rate_limit = 0.02, rate_burst = 2 WHERE name = 'Acme';"
    echo " one request per 50 s, a burst of 2)"
    gateway_psql -d "$DB" -c "UPDATE billium.merchants SET rate_limit = 0.02, rate_burst = 2 WHERE id = '$ACME'"
    RATE_LIMITED=1
    request GET "$BASE/invoices" x-api-key "$SK"
    request GET "$BASE/invoices/$INVOICE" x-api-key "$PK"
    request GET "$BASE/invoices" x-api-key "$SK"
else
    echo "(skipped: this build of billium has no rate limiter)"
fi

gateway_stop
say "The gateway's own log: method, path, status; never a key or a token"
grep -E ' /(api|secret-scanning)/' "$WORK/gateway.log" | sed 's/^/  /'
