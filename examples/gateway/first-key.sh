#!/usr/bin/env bash
#
# From nothing to a first key: a dashboard user, a merchant they own and an sk key of it.
#
#   examples/gateway/first-key.sh you@example.com "Your shop"
#
# Connects with the PG* variables as a superuser of the cluster (the demo's: BILLIUM_KEEP=1 make
# demo prints them). What an application's own services would do, in three steps:
#   1. sign-up, as billium_provisioner: billium_provision_user(email) and the user's factors;
#   2. the login service signs a dashboard session with the server's billium.jwt_secret;
#   3. that session opens the merchant (its OWNER) and creates the key, as the dashboard's
#      Settings -> Developer -> API keys would (the gateway's POST .../api-keys does the same).
# Prints the merchant id and the key (its plaintext exists only now), then a curl to try them.
set -euo pipefail

email=${1:?usage: first-key.sh EMAIL [MERCHANT_NAME]}
name=${2:-My shop}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

user=$(q -v email="$email" <<'SQL'
SET ROLE billium_provisioner;
SELECT billium.billium_provision_user(:'email') AS user_id \gset
-- The sign-up flow verified the address.
SELECT billium.billium_provision_user_factors(:'user_id', email_verified => true) IS NULL AS done \gset
\echo :user_id
SQL
)

secret=$(q -c "SELECT current_setting('billium.jwt_secret', true)")
[[ -n $secret ]] || { echo "first-key: the server has no billium.jwt_secret (postgresql.conf)" >&2; exit 1; }
token=$(BILLIUM_JWT_SECRET=$secret node "$here/sign-session.js" "$user" 300)

# One transaction as the user's dashboard session.
q -v token="$token" -v name="$name" <<'SQL'
BEGIN;
SELECT set_config('billium.session', :'token', true) IS NULL AS unused \gset
SELECT billium.billium_create_merchant(:'name') AS merchant \gset
SELECT api_key AS key FROM billium.billium_create_api_key(:'merchant', 'sk', '{*}', 'first key') \gset
COMMIT;
\echo merchant :merchant
\echo key :key
SQL
echo "try: curl http://127.0.0.1:8080/api/v1/merchants/merchant/<merchant>/invoices -H 'x-api-key: <key>'"
