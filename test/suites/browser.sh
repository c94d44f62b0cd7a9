#!/usr/bin/env bash
#
# Public keys from a real browser (issue 14): CORS on the reference gateway, the refusal of a
# secret key sent from a page, and the checkout page (examples/checkout) driven in headless
# Chromium.  Run by `make test` with PGHOST, PGPORT and PGUSER naming a superuser of the
# throwaway cluster; prints TAP lines and exits non-zero when anything failed.
#
#   1. node, npm and Debian's chromium (installed with apt-get when missing, as root); npm ci in
#      examples/gateway and examples/checkout (playwright-core, which drives /usr/bin/chromium)
#   2. a scratch database, the gateway's role and fixtures (test/lib/clients.sh)
#   3. the gateway started with CORS_ALLOWED_ORIGINS for every merchant and a per-merchant origins
#      file; a second one with SECRET_KEY_IN_BROWSER=allow and CORS_ALLOWED_ORIGINS=*
#   4. examples/gateway/test/cors.test.js: preflights, grants and refusals over plain HTTP
#   5. the checkout page served twice, each on its own port (its own origin); the first added to
#      Shop Co's origins, the second not; examples/checkout/test/browser.test.js drives Chromium
#      over both and keeps a screenshot in $BILLIUM_ARTIFACTS (default test/artifacts)
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DB=billium_browser_$$
export GATEWAY_ROLE=billium_browser_$$
WORK=$(mktemp -d /tmp/billium_browser.XXXXXX)
ARTIFACTS=${BILLIUM_ARTIFACTS:-$ROOT/test/artifacts}
CHECKOUT_DIR=$ROOT/examples/checkout
CHECKOUT_PIDS=()

# shellcheck source=examples/gateway/gateway.sh
source "$ROOT/examples/gateway/gateway.sh"
# shellcheck source=test/lib/clients.sh
source "$ROOT/test/lib/clients.sh"

ALLOW_PID=
cleanup() {
    local pid
    for pid in "${CHECKOUT_PIDS[@]}" $ALLOW_PID; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    clients_cleanup
}
trap cleanup EXIT

# Debian's chromium, for this suite only (not in the packages every build needs).
ensure_chromium() {
    [[ -x /usr/bin/chromium ]] && return 0
    if [[ ${BILLIUM_SKIP_PACKAGES:-0} == 1 ]] || ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        echo "browser: /usr/bin/chromium is missing; install it (apt-get install chromium) or run as root" >&2
        return 1
    fi
    echo "==> installing chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

# node serve.js on a free port with the given environment; appends its pid and prints its URL.
start_checkout() {
    local log=$WORK/checkout.$RANDOM.log line
    env "$@" PORT=0 node "$CHECKOUT_DIR/serve.js" >"$log" 2>&1 &
    CHECKOUT_PIDS+=($!)
    for _ in $(seq 100); do
        line=$(grep -m1 -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null) && break
        sleep 0.1
    done
    [[ -n ${line:-} ]] || { cat "$log" >&2; return 1; }
    echo "${line#listening on }"
}

# --- 1. tools -----------------------------------------------------------------------------------

ensure_chromium 2>"$WORK/err" || clients_bail "Debian's chromium is installed"
ok "$(/usr/bin/chromium --version 2>/dev/null | head -n1 | cut -c1-60)"
(cd "$CHECKOUT_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) 2>"$WORK/err" ||
    clients_bail "npm ci in examples/checkout (playwright-core)"
ok "npm ci in examples/checkout installs the locked playwright-core"

# --- 2. database and fixtures -------------------------------------------------------------------

clients_setup
FX=$WORK/fixtures.json
fx() { node -e 'console.log(require(process.argv[1])[process.argv[2]])' "$FX" "$1"; }
MERCHANT=$(fx merchant)

# --- 3. the gateways ------------------------------------------------------------------------------

EVERYWHERE=http://everywhere.test:8443
SHOP_ORIGIN=http://shop.test
printf '{"%s": ["%s"]}\n' "$MERCHANT" "$SHOP_ORIGIN" >"$WORK/origins.json"
CORS_ALLOWED_ORIGINS='*' SECRET_KEY_IN_BROWSER=allow CORS_MERCHANT_ORIGINS_FILE= \
    gateway_start "$DB" "$WORK/gateway-allow.log" 2>"$WORK/err" ||
    clients_bail "the gateway with SECRET_KEY_IN_BROWSER=allow starts"
ALLOW_URL=$GATEWAY_URL ALLOW_PID=$GATEWAY_PID GATEWAY_PID=
CORS_ALLOWED_ORIGINS=$EVERYWHERE CORS_MERCHANT_ORIGINS_FILE=$WORK/origins.json \
    gateway_start "$DB" "$WORK/gateway.log" 2>"$WORK/err" || clients_bail "the gateway starts"
ok "two gateways: $GATEWAY_URL (origins: $EVERYWHERE, and Shop Co's file), $ALLOW_URL (any origin, sk keys allowed)"

# --- 4. CORS over plain HTTP ------------------------------------------------------------------------

clients_node_test test/cors.test.js "$ROOT/examples/gateway" \
    GATEWAY_URL="$GATEWAY_URL" GATEWAY_ALLOW_URL="$ALLOW_URL" GATEWAY_FIXTURES="$FX" \
    CORS_EVERYWHERE="$EVERYWHERE" CORS_SHOP_ORIGIN="$SHOP_ORIGIN"

# --- 5. the checkout page in Chromium ---------------------------------------------------------------

CHECKOUT_ENV=(CHECKOUT_GATEWAY_URL="$GATEWAY_URL" CHECKOUT_MERCHANT_ID="$MERCHANT"
    CHECKOUT_PK_KEY="$(fx pk)" CHECKOUT_PRODUCT_ID="$(fx product)")
CHECKOUT_URL=$(start_checkout "${CHECKOUT_ENV[@]}" 2>"$WORK/err") || clients_bail "the checkout page is served"
OTHER_URL=$(start_checkout "${CHECKOUT_ENV[@]}" 2>"$WORK/err") || clients_bail "the checkout page is served twice"
# Shop Co's origins file gains the first; the gateway reads it again when it changes.
printf '{"%s": ["%s", "%s"]}\n' "$MERCHANT" "$SHOP_ORIGIN" "$CHECKOUT_URL" >"$WORK/origins.json"
ok "the checkout page on $CHECKOUT_URL (in Shop Co's origins) and $OTHER_URL (in none)"

mkdir -p "$ARTIFACTS"
SCREENSHOT=$ARTIFACTS/checkout.png
rm -f "$SCREENSHOT"
clients_node_test test/browser.test.js "$CHECKOUT_DIR" \
    CHECKOUT_URL="$CHECKOUT_URL" CHECKOUT_OTHER_URL="$OTHER_URL" GATEWAY_URL="$GATEWAY_URL" \
    GATEWAY_FIXTURES="$FX" GATEWAY_LOG="$WORK/gateway.log" CHECKOUT_SCREENSHOT="$SCREENSHOT" CHROMIUM=/usr/bin/chromium
if [[ -s $SCREENSHOT ]]; then
    ok "screenshot of the checkout page kept: $SCREENSHOT"
else
    not_ok "screenshot of the checkout page kept at $SCREENSHOT"
fi
if ((FAILED > 0)); then
    echo "# the gateway's log, but for its request lines:"
    grep -v '^[A-Z]* /.* [0-9]*ms$' "$WORK/gateway.log" | diag
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
