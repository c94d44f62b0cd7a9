# shellcheck shell=bash
#
# What the client suites (test/suites/browser.sh, test/suites/sdk_node.sh) share: a scratch
# database with billium and the test-only billium_test (the fixtures), the gateway's login role, and fixtures made as the superuser, written
# to $WORK/fixtures.json.  Source it after test/lib/suite.sh and examples/gateway/gateway.sh, with
# DB, WORK and GATEWAY_ROLE set.  Sets RATE_LIMIT=1 when the rate limiter is on for "Limited Co".
#
# Fixtures: "Shop Co" (owner, a product "T-shirt" at 25.00 usd; keys sk {*}, pk {invoice:create,
# invoice:view,product:view}, narrow sk {invoice:view}), "Other Co" with an sk key, and
# "Limited Co" with an sk key and a rate limit of 1 request per 5 s, burst 1 (slow enough
# for requests under valgrind to find the bucket still empty).

clients_cleanup() {
    gateway_stop
    dropdb --if-exists "$DB" >/dev/null 2>&1
    q -d postgres -c "DROP ROLE IF EXISTS $GATEWAY_ROLE" >/dev/null 2>&1
    rm -rf "$WORK"
}

clients_bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

clients_setup() {
    gateway_ensure_tools 2>"$WORK/err" || clients_bail "node and npm are available"
    gateway_install_deps 2>"$WORK/err" || clients_bail "npm ci in examples/gateway"
    createdb "$DB" 2>"$WORK/err" || clients_bail "create the scratch database"
    q -d "$DB" -c 'CREATE EXTENSION billium' 2>"$WORK/err" || clients_bail "CREATE EXTENSION billium"
    gateway_update_extension "$DB" >/dev/null 2>"$WORK/err" || clients_bail "ALTER EXTENSION billium UPDATE"
    q -d "$DB" -c 'CREATE EXTENSION billium_test' 2>"$WORK/err" || clients_bail "CREATE EXTENSION billium_test (the fixtures)"
    gateway_setup_role "$DB" 2>"$WORK/err" || clients_bail "the gateway's login role"

    local has_limiter
    has_limiter=$(q -d "$DB" -c "SELECT count(*) FROM pg_attribute
        WHERE attrelid = 'billium.merchants'::regclass AND attname = 'rate_limit' AND NOT attisdropped")
    umask 077 # the fixtures file holds keys
    q -d "$DB" -v has_limiter="$has_limiter" >"$WORK/fixtures.json" 2>"$WORK/err" <<'SQL' ||
SELECT merchant_id AS m, owner_id AS owner FROM billium.billium_test_merchant('Shop Co', 'owner@shop.test') \gset
INSERT INTO billium.products (merchant_id, name, price) VALUES (:'m', 'T-shirt', 2500) RETURNING id AS product \gset
SELECT merchant_id AS other, owner_id AS other_owner FROM billium.billium_test_merchant('Other Co', 'owner@other.test') \gset
SELECT merchant_id AS limited, owner_id AS limited_owner FROM billium.billium_test_merchant('Limited Co', 'owner@limited.test') \gset
BEGIN;
SELECT billium.billium_act_as(:'owner') IS NOT NULL AS acting \gset
SELECT api_key AS sk FROM billium.billium_create_api_key(:'m', 'sk', '{*}', 'server') \gset
SELECT api_key AS pk FROM billium.billium_create_api_key(:'m', 'pk', '{invoice:create,invoice:view,product:view}', 'checkout') \gset
SELECT api_key AS narrow FROM billium.billium_create_api_key(:'m', 'sk', '{invoice:view}', 'reader') \gset
COMMIT;
BEGIN;
SELECT billium.billium_act_as(:'other_owner') IS NOT NULL AS acting \gset
SELECT api_key AS other_sk FROM billium.billium_create_api_key(:'other', 'sk', '{*}', 'other server') \gset
COMMIT;
BEGIN;
SELECT billium.billium_act_as(:'limited_owner') IS NOT NULL AS acting \gset
SELECT api_key AS limited_sk FROM billium.billium_create_api_key(:'limited', 'sk', '{*}', 'limited server') \gset
COMMIT;
\if :has_limiter
UPDATE billium.merchants SET rate_limit = 0.2, rate_burst = 1 WHERE id = :'limited';
\endif
SELECT json_build_object('merchant', :'m', 'owner', :'owner', 'product', :'product',
    'other', :'other', 'limited', :'limited',
    'sk', :'sk', 'pk', :'pk', 'narrow', :'narrow', 'other_sk', :'other_sk', 'limited_sk', :'limited_sk');
SQL
        clients_bail "fixtures: merchants, keys, a product"
    umask 022
    ok "fixtures: Shop Co with a product and sk, pk and narrowed sk keys; Other Co; Limited Co"

    RATE_LIMIT=0
    if [[ $has_limiter == 1 ]] &&
        [[ $(q -d "$DB" -c "SELECT enabled FROM billium.billium_rate_limit_status(
            (SELECT id FROM billium.merchants WHERE name = 'Limited Co'))" 2>/dev/null) == t ]]; then
        RATE_LIMIT=1
    fi
}

# Run a node --test file ($1, relative to directory $2) with the environment given after it, and
# print its top-level results as the `ok - ...` lines the harness counts (as test/suites/gateway.sh).
clients_node_test() {
    local file=$1 dir=$2 rc=0 out=$WORK/node.$RANDOM
    shift 2
    (cd "$dir" && env "$@" node --test --test-reporter=tap "$file") >"$out.tap" 2>&1 || rc=$?
    awk '
        /^TAP version|^1\.\.[0-9]|^# Subtest:/ { next }
        /^(not ok|ok) [0-9]+ - / { sub(/ [0-9]+ - /, " - "); quiet = /^ok/; print; next }
        /^  ---$/ { inyaml = 1 }
        inyaml { if (!quiet) print; if ($0 == "  ...") inyaml = 0; next }
        { print }
    ' "$out.tap" >"$out.txt"
    cat "$out.txt"
    local p f
    p=$(grep -c '^ok - ' "$out.txt")
    f=$(grep '^not ok - ' "$out.txt" | grep -vic '# *todo')
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if ((rc != 0 && f == 0)); then
        not_ok "node --test $file exited with status $rc"
    elif ((p + f == 0)); then
        not_ok "node --test $file ran no test"
    fi
}
