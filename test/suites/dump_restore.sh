#!/usr/bin/env bash
#
# pg_dump / pg_restore keeps billium's data and behaviour (issue 4).  Run by `make test` with
# PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster; prints TAP lines
# (`ok - ...` / `not ok - ...`) and exits non-zero when anything failed.
#
#   1. a source database: CREATE EXTENSION billium (then UPDATE TO 0.3.0 when available),
#      fixtures (merchants, users, team, keys minted through billium_act_as and
#      billium_create_api_key, one of them revoked, invoices including one made by a pk key,
#      the other domain tables, a security flag, and a user table under billium_protect_table)
#   2. pg_dump -Fc, then pg_restore into a fresh database
#   3. compare: row count and contents of every table of schema billium (and the protected
#      table), the set of policies (pg_policies), which actions each key may perform
#      (billium_authorize as an ordinary role), and how many rows of each table each principal
#      sees under row-level security
#   4. drop both databases and the role made for the run
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

SRC=billium_dump_src_$$
DST=billium_dump_dst_$$
APP=billium_dump_app_$$
WORK=$(mktemp -d /tmp/billium_dump.XXXXXX)

cleanup() {
    "$PG_BIN/dropdb" --if-exists "$SRC" >/dev/null 2>&1
    "$PG_BIN/dropdb" --if-exists "$DST" >/dev/null 2>&1
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

A=a0000000-0000-0000-0000-000000000001
B=a0000000-0000-0000-0000-000000000002

# --- 1. the source database ----------------------------------------------------

"$PG_BIN/createdb" "$SRC" 2>"$WORK/err" || bail "create the source database"
q -d "$SRC" -c 'CREATE EXTENSION billium' 2>"$WORK/err" || bail "CREATE EXTENSION billium"
if [[ $(q -d "$SRC" -c "SELECT count(*) FROM pg_available_extension_versions WHERE name = 'billium' AND version = '0.3.0'") == 1 ]]; then
    q -d "$SRC" -c "DO \$\$ BEGIN IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.3.0' THEN ALTER EXTENSION billium UPDATE TO '0.3.0'; END IF; END \$\$" \
        2>"$WORK/err" || bail "ALTER EXTENSION billium UPDATE TO '0.3.0'"
fi
VERSION=$(q -d "$SRC" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
DEFAULT=$(q -d "$SRC" -c "SELECT default_version FROM pg_available_extensions WHERE name = 'billium'")
echo "# billium $VERSION in the source database (default version $DEFAULT)"
has() { [[ $(q -d "$SRC" -c "SELECT $1 IS NOT NULL") == t ]]; }

q -d "$SRC" -c "CREATE ROLE $APP LOGIN; GRANT billium_api, billium_admin TO $APP" 2>"$WORK/err" ||
    bail "create the ordinary role $APP"

# Merchants, users, team; a security flag set by the OWNER (through the trigger when 0.3.0).
q -d "$SRC" 2>"$WORK/err" >/dev/null <<SQL || bail "load the merchants, users and teams"
BEGIN;
INSERT INTO billium.merchants (id, name) VALUES ('$A', 'dump A'), ('$B', 'dump B');
INSERT INTO billium.users (id, email, tfa_enabled) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner-a@dump.test', true),
	('b0000000-0000-0000-0000-000000000002', 'admin-a@dump.test', false),
	('b0000000-0000-0000-0000-000000000003', 'member-a@dump.test', false),
	('b0000000-0000-0000-0000-000000000004', 'viewer-a@dump.test', false),
	('b0000000-0000-0000-0000-000000000006', 'owner-b@dump.test', false);
INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('$A', 'b0000000-0000-0000-0000-000000000001', 'OWNER', NULL),
	('$A', 'b0000000-0000-0000-0000-000000000002', 'ADMIN', NULL),
	('$A', 'b0000000-0000-0000-0000-000000000003', 'MEMBER', NULL),
	('$A', 'b0000000-0000-0000-0000-000000000004', 'VIEWER', '{invoice:view,team:view}'),
	('$B', 'b0000000-0000-0000-0000-000000000006', 'OWNER', NULL);
SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000001');
UPDATE billium.merchants SET enforce_tfa = true WHERE id = '$A';
COMMIT;
SQL

# Keys, minted by dashboard sessions; one revoked.  Their plaintext is kept for the checks.
q -d "$SRC" -F ' ' 2>"$WORK/err" >"$WORK/keys" <<SQL || bail "mint the keys"
BEGIN;
SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000001') \g /dev/null
SELECT 'sk_all', api_key FROM billium.billium_create_api_key('$A', 'sk', '{*}', 'all');
SELECT 'sk_invoice_view', api_key FROM billium.billium_create_api_key('$A', 'sk', '{invoice:view}', 'invoice view');
SELECT 'pk', api_key FROM billium.billium_create_api_key('$A', 'pk', '{invoice:create,invoice:view,product:view}', 'checkout');
CREATE TEMP TABLE r AS SELECT * FROM billium.billium_create_api_key('$A', 'sk', '{report:view}', 'to revoke');
SELECT 'sk_revoked', api_key FROM r;
SELECT billium.billium_revoke_api_key(id) FROM r \g /dev/null
SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000002') \g /dev/null
SELECT 'sk_admin', api_key FROM billium.billium_create_api_key('$A', 'sk', '{invoice:*,product:*,customer:view}', 'by the admin');
SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000006') \g /dev/null
SELECT 'sk_b', api_key FROM billium.billium_create_api_key('$B', 'sk', '{*}', 'B all');
COMMIT;
SQL
declare -A KEY
while read -r label key; do KEY[$label]=$key; done <"$WORK/keys"
((${#KEY[@]} == 6)) || bail "expected 6 keys, got ${#KEY[@]}"

# Domain rows (0.3.0): invoices by a user, by a pk key and of B, one row in each other table.
if has "to_regclass('billium.invoices')"; then
    q -d "$SRC" 2>"$WORK/err" >/dev/null <<SQL || bail "load the domain tables"
BEGIN;
SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000003');
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES ('$A', 100, 'by the member'), ('$A', 200, 'by the member too');
SELECT billium.billium_authenticate('${KEY[pk]}');
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES ('$A', 300, 'by the pk key');
SELECT billium.billium_authenticate('${KEY[sk_b]}');
INSERT INTO billium.invoices (merchant_id, amount, currency, status, description) VALUES ('$B', 999, 'eur', 'paid', 'of B');
INSERT INTO billium.products (merchant_id, name, price) VALUES ('$A', 'widget', 10), ('$B', 'B product', 20);
COMMIT;
SQL
fi
if has "to_regclass('billium.customers')"; then
    q -d "$SRC" 2>"$WORK/err" >/dev/null <<SQL || bail "load customers, webhooks, checkout, wallets, billing"
INSERT INTO billium.customers (merchant_id, name) VALUES ('$A', 'alice'), ('$B', 'carol');
INSERT INTO billium.webhooks (merchant_id, url, events) VALUES ('$A', 'https://a.test/hook', '{invoice.paid}');
INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES ('$A', '{"theme": "dark"}');
INSERT INTO billium.wallets (merchant_id, address) VALUES ('$A', 'A-wallet'), ('$B', 'B-wallet');
INSERT INTO billium.merchant_billing (merchant_id, plan, billing_email) VALUES ('$A', 'free', 'billing@a.test');
SQL
fi

# A user's own table under billium's policies.
PROTECTED=
if has "to_regproc('billium.billium_protect_table')"; then
    q -d "$SRC" 2>"$WORK/err" >/dev/null <<SQL || bail "protect a user table with billium_protect_table"
CREATE TABLE public.orders (merchant_id uuid NOT NULL, id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int NOT NULL);
SELECT billium.billium_protect_table('public.orders', 'invoice');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders TO billium_api;
INSERT INTO public.orders (merchant_id, amount) VALUES ('$A', 1), ('$A', 2), ('$B', 3);
SQL
    PROTECTED=public.orders
fi
ok "source database loaded (billium $VERSION${PROTECTED:+, protected table $PROTECTED})"

# --- 2. dump and restore ---------------------------------------------------------

if "$PG_BIN/pg_dump" -Fc -f "$WORK/src.dump" "$SRC" 2>"$WORK/err"; then
    ok "pg_dump -Fc of the source database"
else
    bail "pg_dump -Fc of the source database"
fi
"$PG_BIN/createdb" "$DST" 2>"$WORK/err" || bail "create the target database"
# pg_dump records CREATE EXTENSION without a version, so a restore installs the default version.
# While 0.3.0 is not the default yet, install the source's version first (the dump's CREATE
# EXTENSION IF NOT EXISTS then does nothing), as an operator restoring it would have to.
if [[ $VERSION != "$DEFAULT" ]]; then
    echo "# the default version is $DEFAULT: installing billium $VERSION in the target first"
    q -d "$DST" -c "CREATE EXTENSION billium VERSION '$VERSION'" 2>"$WORK/err" ||
        bail "CREATE EXTENSION billium VERSION '$VERSION' in the target"
fi
if "$PG_BIN/pg_restore" -d "$DST" "$WORK/src.dump" 2>"$WORK/err"; then
    ok "pg_restore into a fresh database reports no error"
else
    not_ok "pg_restore into a fresh database reports no error"
    diag <"$WORK/err"
fi
DVERSION=$(q -d "$DST" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
if [[ $DVERSION == "$VERSION" ]]; then
    ok "the restored database has billium $VERSION"
else
    not_ok "the restored database has billium $VERSION (it has ${DVERSION:-none})"
fi

# --- 3. compare ------------------------------------------------------------------

# compare DESCRIPTION FILE_SRC FILE_DST
compare() {
    if diff -u "$2" "$3" >"$WORK/diff"; then
        ok "$1"
    else
        not_ok "$1"
        head -n 40 "$WORK/diff" | diag
    fi
}

# Every table of schema billium and the protected table: row count and an md5 of the rows in a
# fixed order, as the superuser.
TABLES_SQL="SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND (n.nspname = 'billium' OR format('%I.%I', n.nspname, c.relname) = '${PROTECTED:-none}')
            ORDER BY 1"
mapfile -t TABLES < <(q -d "$SRC" -c "$TABLES_SQL")
mapfile -t DTABLES < <(q -d "$DST" -c "$TABLES_SQL")
if [[ "${TABLES[*]}" == "${DTABLES[*]}" ]]; then
    ok "the same ${#TABLES[@]} tables in both databases"
else
    not_ok "the same tables in both databases"
    echo "source: ${TABLES[*]}" | diag
    echo "target: ${DTABLES[*]}" | diag
fi
for t in "${TABLES[@]}"; do
    sql="SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM $t x"
    s=$(q -d "$SRC" -c "$sql" 2>&1)
    d=$(q -d "$DST" -c "$sql" 2>&1)
    sc=${s%% rows*}
    dc=${d%% rows*}
    if [[ $sc == "$dc" ]]; then ok "$t: $sc rows in both"; else not_ok "$t: $sc rows in the source, $dc in the target"; fi
    if [[ $s == "$d" ]]; then
        ok "$t: identical contents"
    else
        not_ok "$t: identical contents"
        # Show which rows differ (at most 10 lines).
        rows="SELECT x::text FROM $t x ORDER BY 1"
        diff <(q -d "$SRC" -c "$rows") <(q -d "$DST" -c "$rows") | head -n 10 | diag
    fi
done

POLICIES_SQL="SELECT schemaname, tablename, policyname, permissive, roles, cmd, qual, with_check
              FROM pg_policies ORDER BY 1, 2, 3"
q -d "$SRC" -c "$POLICIES_SQL" >"$WORK/policies.src"
q -d "$DST" -c "$POLICIES_SQL" >"$WORK/policies.dst"
compare "the same $(wc -l <"$WORK/policies.src") policies (pg_policies) in both databases" "$WORK/policies.src" "$WORK/policies.dst"

RLS_SQL="SELECT format('%I.%I %s %s', n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('billium', 'public') ORDER BY 1"
q -d "$SRC" -c "$RLS_SQL" >"$WORK/rls.src"
q -d "$DST" -c "$RLS_SQL" >"$WORK/rls.dst"
compare "row-level security enabled and forced on the same tables in both databases" "$WORK/rls.src" "$WORK/rls.dst"

# Behaviour, as the ordinary role: which actions each key may perform on A and on B, and how
# many rows of each table each principal (keys, dashboard users, nobody) sees.
KEYS_VALUES=
for label in "${!KEY[@]}"; do
    KEYS_VALUES+="${KEYS_VALUES:+, }('$label', '${KEY[$label]}')"
done
VISIBLE_TABLES=$(printf "'%s'," "${TABLES[@]}")
VISIBLE_TABLES="ARRAY[${VISIBLE_TABLES%,}"
if has "to_regclass('billium.reports')"; then VISIBLE_TABLES+=", 'billium.reports'"; fi
VISIBLE_TABLES+="]"

behaviour() {
    q -d "$1" <<SQL
BEGIN;
SET LOCAL ROLE $APP;
SET LOCAL search_path = public, billium;
CREATE FUNCTION pg_temp.outcome(k text, a text, m uuid) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	st text; det text;
BEGIN
	PERFORM set_config('billium.api_key', k, true);
	PERFORM billium_authorize(a, m);
	RETURN 'allowed';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
	BEGIN
		RETURN st || ' ' || coalesce(det::jsonb ->> 'code', '-');
	EXCEPTION WHEN OTHERS THEN
		RETURN st;
	END;
END
\$\$;
CREATE FUNCTION pg_temp.visible(who text, tables text[]) RETURNS SETOF text LANGUAGE plpgsql AS \$\$
DECLARE
	t text; n bigint;
BEGIN
	FOREACH t IN ARRAY tables LOOP
		IF who LIKE 'user %' THEN
			PERFORM billium_act_as(substr(who, 6)::uuid);
		ELSIF who = 'nobody' THEN
			PERFORM set_config('billium.api_key', '', true);
		ELSE
			PERFORM set_config('billium.api_key', (SELECT k FROM keys WHERE label = who), true);
		END IF;
		BEGIN
			EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
			RETURN NEXT format('%s sees %s rows of %s', who, n, t);
		EXCEPTION WHEN OTHERS THEN
			RETURN NEXT format('%s reading %s: %s', who, t, SQLERRM);
		END;
	END LOOP;
END
\$\$;
CREATE TEMP TABLE keys (label text, k text);
INSERT INTO keys VALUES $KEYS_VALUES;
SELECT format('key %s on %s: %s %s', k.label, m.name, a.name, pg_temp.outcome(k.k, a.name, m.id))
FROM keys k CROSS JOIN billium.actions a
CROSS JOIN (VALUES ('A', '$A'::uuid), ('B', '$B'::uuid)) AS m(name, id)
ORDER BY 1;
SELECT v FROM (SELECT label FROM keys
			   UNION ALL VALUES ('user b0000000-0000-0000-0000-000000000001'), ('user b0000000-0000-0000-0000-000000000002'),
								('user b0000000-0000-0000-0000-000000000003'), ('user b0000000-0000-0000-0000-000000000004'),
								('user b0000000-0000-0000-0000-000000000006'), ('nobody')) AS w(who),
			  LATERAL pg_temp.visible(w.who, $VISIBLE_TABLES) AS v
ORDER BY 1;
ROLLBACK;
SQL
}
behaviour "$SRC" >"$WORK/behaviour.src" 2>&1
behaviour "$DST" >"$WORK/behaviour.dst" 2>&1
grep ' on ' "$WORK/behaviour.src" >"$WORK/gate.src"
grep ' on ' "$WORK/behaviour.dst" >"$WORK/gate.dst"
grep -v ' on ' "$WORK/behaviour.src" >"$WORK/rows.src"
grep -v ' on ' "$WORK/behaviour.dst" >"$WORK/rows.dst"

NGATE=$(wc -l <"$WORK/gate.src")
NACTIONS=$(q -d "$SRC" -c "SELECT count(*) FROM billium.actions")
if ((NGATE == ${#KEY[@]} * NACTIONS * 2)); then
    ok "the gate answered for $NGATE (key, merchant, action) cases in the source"
else
    not_ok "the gate answered for ${#KEY[@]} keys x $NACTIONS actions x 2 merchants in the source (got $NGATE lines)"
    head -n 20 "$WORK/behaviour.src" | diag
fi
if grep -q 'allowed' "$WORK/gate.src" && grep -q 'API_KEY_REVOKED' "$WORK/gate.src" && grep -q 'MERCHANT_MISMATCH' "$WORK/gate.src"; then
    ok "the cases include allowed, revoked and wrong-merchant answers"
else
    not_ok "the cases include allowed, revoked and wrong-merchant answers"
fi
for label in $(printf '%s\n' "${!KEY[@]}" | sort); do
    compare "key $label: the same actions allowed and refused, with the same codes, after the restore" \
        <(grep "^key $label on " "$WORK/gate.src") <(grep "^key $label on " "$WORK/gate.dst")
done
compare "every principal sees the same number of rows of every table under RLS after the restore ($(wc -l <"$WORK/rows.src") cases)" \
    "$WORK/rows.src" "$WORK/rows.dst"
if has "to_regclass('billium.invoices')"; then
    if grep -qx 'pk sees 1 rows of billium.invoices' "$WORK/rows.dst"; then
        ok "after the restore the pk key still sees exactly the invoice it created"
    else
        not_ok "after the restore the pk key still sees exactly the invoice it created"
        grep 'pk sees .* billium.invoices' "$WORK/rows.src" "$WORK/rows.dst" | diag
    fi
fi

# A key minted after the restore works there (the restored keys do not block new ones).
if q -d "$DST" -c "BEGIN; SELECT billium.billium_act_as('b0000000-0000-0000-0000-000000000001');
                   SELECT count(*) FROM billium.billium_create_api_key('$A', 'sk', '{invoice:view}', 'after restore'); ROLLBACK;" \
    >/dev/null 2>"$WORK/err"; then
    ok "a new key can be minted in the restored database"
else
    not_ok "a new key can be minted in the restored database"
    diag <"$WORK/err"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
