#!/usr/bin/env bash
#
# ALTER EXTENSION billium UPDATE, step by step from the oldest release, ends where a fresh install
# of the default version starts, and loses nothing on the way (issue 7).  Run by `make test` with
# PGHOST, PGPORT and PGUSER naming a superuser of the throwaway cluster; prints TAP lines
# (`ok - ...` / `not ok - ...`) and exits non-zero when anything failed.
#
#   1. database A: CREATE EXTENSION billium VERSION '0.1.0' (the one install script), a user
#      table of permission sets with a btree and a hash index; then ALTER EXTENSION billium
#      UPDATE TO each next version of pg_extension_update_paths up to the default version, and
#      at each step the fixtures the new version makes possible: merchants, users, team and keys
#      (minted through billium_act_as and billium_create_api_key, one revoked) when the tables
#      appear, invoices (one by a pk key) and a row in every domain table, a security flag and a
#      user table under billium_protect_table when those appear
#   2. database B: CREATE EXTENSION billium (the default version), the same fixtures at once
#   3. compare: the extension (version, schema, owner), its member objects (pg_depend 'e') and
#      their owners, every function's definition (body, volatility, strictness, SECURITY
#      DEFINER, SET search_path, parallel safety, cost), views, columns and their defaults,
#      constraints, indexes, triggers (and whether enabled), policies (commands, roles,
#      expressions), row-level security flags, ACLs of the schema, tables, columns, sequences,
#      functions and types (as sorted items: the order of GRANTs means nothing), the initial
#      privileges pg_dump reads (pg_init_privs), operators, operator families, casts, every
#      comment, pg_dump configuration, owned sequences and other internal dependencies, the
#      seed rows of actions: identical, with a diff on failure; and the comparison can fail (a
#      function body changed in B is a difference).  The
#      data loaded into A survived: the permission sets and their indexes, row counts and
#      contents; every key of A still verifies and gets the same answer from billium_authorize,
#      for every action on both merchants, as the key of the same label in B; every principal
#      sees as many rows of every table under row-level security in A as in B
#   4. drop both databases and the role made for the run
#
# BILLIUM_UPGRADE_TARGET=X.Y.Z ends at that version instead of the default one;
# BILLIUM_UPGRADE_SOURCE=X.Y.Z starts from that release instead of the oldest.
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

DBA=billium_upgrade_a_$$
DBB=billium_upgrade_b_$$
APP=billium_upgrade_app_$$
WORK=$(mktemp -d /tmp/billium_upgrade.XXXXXX)

cleanup() {
    "$PG_BIN/dropdb" --if-exists "$DBA" >/dev/null 2>&1
    "$PG_BIN/dropdb" --if-exists "$DBB" >/dev/null 2>&1
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

# compare DESCRIPTION FILE_A FILE_B
compare() {
    # -F: a hunk of the functions names the function it is in (its first line, billium.name(args)).
    if diff -u -F "^billium\\." --label "updated A" --label "fresh B" "$2" "$3" >"$WORK/diff"; then
        ok "$1"
    else
        not_ok "$1"
        head -n 80 "$WORK/diff" | diag
        (($(grep -c '' "$WORK/diff") <= 80)) || echo "# ... $(grep -c '' "$WORK/diff") lines of diff in all"
    fi
}

MA=a0000000-0000-0000-0000-000000000001
MB=a0000000-0000-0000-0000-000000000002
U1=b0000000-0000-0000-0000-000000000001 # OWNER of A
U2=b0000000-0000-0000-0000-000000000002 # ADMIN of A
U3=b0000000-0000-0000-0000-000000000003 # MEMBER of A
U4=b0000000-0000-0000-0000-000000000004 # VIEWER of A, narrowed
U6=b0000000-0000-0000-0000-000000000006 # OWNER of B

has() { [[ $(q -d "$1" -c "SELECT $2 IS NOT NULL") == t ]]; }

# --- fixtures, by the version that makes them possible ---------------------------

# 0.1.0: the type.  A user table of permission sets, indexed with both operator classes.
load_010() {
    q -d "$1" 2>"$WORK/err" >/dev/null <<'SQL'
CREATE TABLE public.grants (id int PRIMARY KEY, p billium.billium_permset NOT NULL);
INSERT INTO public.grants
SELECT i, billium.billium_permset_from_bigint((i::bigint * 2654435761) % (1::bigint << 34)) FROM generate_series(1, 2000) i;
INSERT INTO public.grants VALUES (0, '{}'), (-1, '{*}'), (-2, '{invoice:*,product:view}');
CREATE INDEX grants_p_btree ON public.grants USING btree (p);
CREATE INDEX grants_p_hash ON public.grants USING hash (p);
-- Set aside for the merchants of 0.3.0's protected table.
CREATE TABLE public.orders (merchant_id uuid NOT NULL, id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int NOT NULL);
SQL
}

# 0.2.0: merchants, users, the team (one grant narrowed) and keys minted by dashboard users.
# Prints "label key" lines.
load_020() {
    q -d "$1" 2>"$WORK/err" >/dev/null <<SQL || return 1
INSERT INTO billium.merchants (id, name) VALUES ('$MA', 'upgrade A'), ('$MB', 'upgrade B');
INSERT INTO billium.users (id, email, tfa_enabled) VALUES
	('$U1', 'owner-a@upgrade.test', true), ('$U2', 'admin-a@upgrade.test', false),
	('$U3', 'member-a@upgrade.test', false), ('$U4', 'viewer-a@upgrade.test', false),
	('$U6', 'owner-b@upgrade.test', false);
INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('$MA', '$U1', 'OWNER', NULL), ('$MA', '$U2', 'ADMIN', NULL), ('$MA', '$U3', 'MEMBER', NULL),
	('$MA', '$U4', 'VIEWER', '{invoice:view,team:view}'), ('$MB', '$U6', 'OWNER', NULL);
SQL
    q -d "$1" -F ' ' 2>"$WORK/err" <<SQL
BEGIN;
SELECT billium.billium_act_as('$U1') \g /dev/null
SELECT 'sk_all', api_key FROM billium.billium_create_api_key('$MA', 'sk', '{*}', 'all');
SELECT 'sk_invoice_view', api_key FROM billium.billium_create_api_key('$MA', 'sk', '{invoice:view}', 'invoice view');
SELECT 'pk', api_key FROM billium.billium_create_api_key('$MA', 'pk', '{invoice:create,invoice:view,product:view}', 'checkout');
CREATE TEMP TABLE r AS SELECT * FROM billium.billium_create_api_key('$MA', 'sk', '{report:view}', 'to revoke');
SELECT 'sk_revoked', api_key FROM r;
SELECT billium.billium_revoke_api_key(id) FROM r \g /dev/null
SELECT billium.billium_act_as('$U2') \g /dev/null
SELECT 'sk_admin', api_key FROM billium.billium_create_api_key('$MA', 'sk', '{invoice:*,product:*,customer:view}', 'by the admin');
SELECT billium.billium_act_as('$U6') \g /dev/null
SELECT 'sk_b', api_key FROM billium.billium_create_api_key('$MB', 'sk', '{*}', 'B all');
COMMIT;
SQL
}

# 0.3.0: the domain tables (invoices by a member, by the pk key and of B), a security flag set by
# the OWNER, the protected user table.  Needs the keys: $2 is the pk key of A, $3 the sk key of B.
load_030() {
    q -d "$1" 2>"$WORK/err" >/dev/null <<SQL
BEGIN;
SELECT billium.billium_act_as('$U3');
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES ('$MA', 100, 'by the member'), ('$MA', 200, 'by the member too');
SELECT billium.billium_authenticate('$2');
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES ('$MA', 300, 'by the pk key');
SELECT billium.billium_authenticate('$3');
INSERT INTO billium.invoices (merchant_id, amount, currency, status, description) VALUES ('$MB', 999, 'eur', 'paid', 'of B');
INSERT INTO billium.products (merchant_id, name, price) VALUES ('$MB', 'B product', 20);
SELECT billium.billium_act_as('$U1');
INSERT INTO billium.products (merchant_id, name, price) VALUES ('$MA', 'widget', 10);
UPDATE billium.merchants SET enforce_tfa = true WHERE id = '$MA';
COMMIT;
INSERT INTO billium.customers (merchant_id, name) VALUES ('$MA', 'alice'), ('$MB', 'carol');
INSERT INTO billium.webhooks (merchant_id, url, events) VALUES ('$MA', 'https://a.test/hook', '{invoice.paid}');
INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES ('$MA', '{"theme": "dark"}');
INSERT INTO billium.wallets (merchant_id, address) VALUES ('$MA', 'A-wallet'), ('$MB', 'B-wallet');
INSERT INTO billium.merchant_billing (merchant_id, plan, billing_email) VALUES ('$MA', 'free', 'billing@a.test');
SELECT billium.billium_protect_table('public.orders', 'invoice');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders TO billium_api;
INSERT INTO public.orders (merchant_id, amount) VALUES ('$MA', 1), ('$MA', 2), ('$MB', 3);
SQL
}

# --- 1. database A: the oldest release, then every step ---------------------------

"$PG_BIN/createdb" "$DBA" 2>"$WORK/err" || bail "create database A"
"$PG_BIN/createdb" "$DBB" 2>"$WORK/err" || bail "create database B"
q -d postgres -c "CREATE ROLE $APP LOGIN" 2>"$WORK/err" || bail "create the ordinary role $APP"

OLDEST=$(q -d "$DBA" -c "SELECT version FROM pg_available_extension_versions WHERE name = 'billium'
                          ORDER BY string_to_array(version, '.')::int[] LIMIT 1")
DEFAULT=$(q -d "$DBA" -c "SELECT default_version FROM pg_available_extensions WHERE name = 'billium'")
# BILLIUM_UPGRADE_SOURCE: another released version to start from (test/suites/upgrade_each.sh runs
# this suite from each of them).
OLDEST=${BILLIUM_UPGRADE_SOURCE:-$OLDEST}
# BILLIUM_UPGRADE_TARGET: another version to end at (e.g. one not yet the default); B then
# installs that version.
DEFAULT=${BILLIUM_UPGRADE_TARGET:-$DEFAULT}
[[ -n $OLDEST && -n $DEFAULT ]] || bail "billium is not available on this server"
PATH_STEPS=$(q -d "$DBA" -c "SELECT path FROM pg_extension_update_paths('billium') WHERE source = '$OLDEST' AND target = '$DEFAULT'")
if [[ $OLDEST == "$DEFAULT" ]]; then
    PATH_STEPS=$OLDEST
fi
[[ -n $PATH_STEPS ]] || bail "an update path from $OLDEST to the default version $DEFAULT"
IFS=' ' read -r -a STEPS <<<"${PATH_STEPS//--/ }"
echo "# updating from $OLDEST through ${STEPS[*]:1} (the default version is $DEFAULT)"

q -d "$DBA" -c "CREATE EXTENSION billium VERSION '$OLDEST'" 2>"$WORK/err" || bail "CREATE EXTENSION billium VERSION '$OLDEST' in A"
ok "database A: CREATE EXTENSION billium VERSION '$OLDEST'"

declare -A KEY_A=() KEY_B=()
LOADED=()
# load_stage DB: whatever the installed version allows and is not loaded yet (per database).
load_stage() {
    local db=$1 label key
    local -n keys=$2 stage_done=$3
    if [[ -z ${stage_done[010]:-} ]] && has "$db" "to_regtype('billium.billium_permset')"; then
        load_010 "$db" || return 1
        stage_done[010]=1
        LOADED+=("the permission sets")
    fi
    if [[ -z ${stage_done[020]:-} ]] && has "$db" "to_regclass('billium.api_keys')"; then
        load_020 "$db" >"$WORK/keys" || return 1
        while read -r label key; do keys[$label]=$key; done <"$WORK/keys"
        ((${#keys[@]} == 6)) || { echo "expected 6 keys, got ${#keys[@]}" >"$WORK/err"; return 1; }
        stage_done[020]=1
        LOADED+=("merchants, users, team and keys")
    fi
    if [[ -z ${stage_done[030]:-} ]] && has "$db" "to_regproc('billium.billium_protect_table')"; then
        load_030 "$db" "${keys[pk]}" "${keys[sk_b]}" || return 1
        stage_done[030]=1
        LOADED+=("invoices, domain rows, a security flag and a protected table")
    fi
    return 0
}

declare -A DONE_A=() DONE_B=()
LOADED=()
load_stage "$DBA" KEY_A DONE_A || bail "load what billium $OLDEST allows into A"
ok "A at $OLDEST: loaded ${LOADED[*]:-nothing}"
for v in "${STEPS[@]:1}"; do
    if q -d "$DBA" -c "ALTER EXTENSION billium UPDATE TO '$v'" 2>"$WORK/err"; then
        ok "database A: ALTER EXTENSION billium UPDATE TO '$v'"
    else
        bail "database A: ALTER EXTENSION billium UPDATE TO '$v'"
    fi
    LOADED=()
    load_stage "$DBA" KEY_A DONE_A || bail "load what billium $v allows into A"
    ((${#LOADED[@]} == 0)) || ok "A at $v: loaded $(printf '%s; ' "${LOADED[@]}" | sed 's/; $//')"
done
VA=$(q -d "$DBA" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
if [[ $VA == "$DEFAULT" ]]; then ok "A ends at the default version $DEFAULT"; else not_ok "A ends at the default version $DEFAULT (it has $VA)"; fi

# --- 2. database B: a fresh install, the same fixtures ------------------------------

if [[ -n ${BILLIUM_UPGRADE_TARGET:-} ]]; then
    q -d "$DBB" -c "CREATE EXTENSION billium VERSION '$DEFAULT'" 2>"$WORK/err" || bail "CREATE EXTENSION billium VERSION '$DEFAULT' in B"
else
    q -d "$DBB" -c "CREATE EXTENSION billium" 2>"$WORK/err" || bail "CREATE EXTENSION billium in B"
fi
LOADED=()
load_stage "$DBB" KEY_B DONE_B || bail "load the fixtures into B"
VB=$(q -d "$DBB" -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'")
ok "database B: CREATE EXTENSION billium ($VB), loaded $(printf '%s; ' "${LOADED[@]}" | sed 's/; $//')"
for db in "$DBA" "$DBB"; do
    q -d "$db" -c "GRANT billium_api, billium_admin TO $APP" >/dev/null 2>&1
done

# --- 3. compare the objects ------------------------------------------------------

EXT="(SELECT oid FROM pg_extension WHERE extname = 'billium')"
# An ACL as its sorted items: the order of the items is the order of the GRANTs and means nothing.
acl() { echo "coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest($1) AS x), '$2')"; }
# Objects made by a database's user (the extension's, the suite's own tables), not by initdb.
USER_OID=16384
SCHEMA="'billium'::regnamespace"
declare -A CATALOG=(
    [members]="SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
               WHERE refclassid = 'pg_extension'::regclass AND refobjid = $EXT AND deptype = 'e' ORDER BY 1"
    [functions]="SELECT p.oid::regprocedure || E'\n' ||
                        CASE WHEN p.prokind = 'a' THEN (SELECT format('aggregate sfunc=%s stype=%s combine=%s final=%s init=%s',
                                 a.aggtransfn, format_type(a.aggtranstype, NULL), a.aggcombinefn, a.aggfinalfn, a.agginitval)
                                 FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
                             ELSE pg_get_functiondef(p.oid) END
                        || E'\nacl ' || $(acl p.proacl default) || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
               FROM pg_proc p WHERE p.pronamespace = $SCHEMA ORDER BY p.oid::regprocedure::text"
    [views]="SELECT c.oid::regclass || ' ' || coalesce(c.reloptions::text, '') || E'\n' || pg_get_viewdef(c.oid)
             FROM pg_class c WHERE c.relnamespace = $SCHEMA AND c.relkind IN ('v', 'm') ORDER BY 1"
    [columns]="SELECT format('%s.%s %s%s%s%s acl=%s', c.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                             coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                             coalesce(' identity ' || nullif(a.attidentity::text, ''), ''), $(acl a.attacl -))
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE (c.relnamespace = $SCHEMA OR c.oid IN ('public.grants'::regclass, 'public.orders'::regclass))
                 AND c.relkind IN ('r', 'p', 'v', 'c', 'm') AND a.attnum > 0 AND NOT a.attisdropped
               ORDER BY c.oid::regclass::text, a.attnum"
    [constraints]="SELECT format('%s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
                   FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
                   WHERE c.relnamespace = $SCHEMA OR c.relname IN ('grants', 'orders') ORDER BY 1"
    [indexes]="SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
               WHERE c.relnamespace = $SCHEMA OR c.relname IN ('grants', 'orders') ORDER BY 1"
    [triggers]="SELECT pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                WHERE NOT t.tgisinternal AND (c.relnamespace = $SCHEMA OR c.relname IN ('grants', 'orders')) ORDER BY 1"
    [policies]="SELECT concat_ws(' | ', schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check)
                FROM pg_policies ORDER BY schemaname, tablename, policyname"
    [relations]="SELECT format('%s kind=%s rls=%s forced=%s acl=%s options=%s comment=%s', c.oid::regclass, c.relkind,
                               c.relrowsecurity, c.relforcerowsecurity, $(acl c.relacl -),
                               coalesce(c.reloptions::text, '-'), coalesce(obj_description(c.oid, 'pg_class'), '-'))
                 FROM pg_class c WHERE c.relnamespace = $SCHEMA OR c.relname IN ('grants', 'orders') ORDER BY 1"
    [types]="SELECT format('%s len=%s byval=%s align=%s storage=%s in=%s out=%s recv=%s send=%s acl=%s comment=%s',
                           t.oid::regtype, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput, t.typoutput,
                           t.typreceive, t.typsend, $(acl t.typacl -), coalesce(obj_description(t.oid, 'pg_type'), '-'))
             FROM pg_type t WHERE t.typnamespace = $SCHEMA ORDER BY 1"
    [operators]="SELECT format('%s code=%s com=%s neg=%s rest=%s join=%s merges=%s hashes=%s', o.oid::regoperator, o.oprcode,
                               o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin, o.oprcanmerge, o.oprcanhash)
                 FROM pg_operator o WHERE o.oprnamespace = $SCHEMA ORDER BY 1"
    [opfamilies]="SELECT format('%s %s: %s', am.amname, f.opfname, m.member)
                  FROM pg_opfamily f JOIN pg_am am ON am.oid = f.opfmethod,
                  LATERAL (SELECT format('operator %s %s', ao.amopstrategy, ao.amopopr::regoperator) AS member
                           FROM pg_amop ao WHERE ao.amopfamily = f.oid
                           UNION ALL
                           SELECT format('function %s %s', ap.amprocnum, ap.amproc::regprocedure)
                           FROM pg_amproc ap WHERE ap.amprocfamily = f.oid
                           UNION ALL
                           SELECT format('class %s default=%s', oc.opcname, oc.opcdefault)
                           FROM pg_opclass oc WHERE oc.opcfamily = f.oid) m
                  WHERE f.opfnamespace = $SCHEMA ORDER BY 1"
    [casts]="SELECT format('%s -> %s func=%s context=%s method=%s', format_type(c.castsource, NULL), format_type(c.casttarget, NULL),
                           c.castfunc::regprocedure, c.castcontext, c.castmethod)
             FROM pg_cast c JOIN pg_depend d ON d.classid = 'pg_cast'::regclass AND d.objid = c.oid
             WHERE d.refobjid = $EXT AND d.deptype = 'e' ORDER BY 1"
    [schema]="SELECT format('%s owner=%s acl=%s', n.nspname, n.nspowner::regrole, $(acl n.nspacl default)) FROM pg_namespace n WHERE n.oid = $SCHEMA"
    [dump_config]="SELECT format('%s %s', c::regclass, w) FROM pg_extension e,
                   unnest(e.extconfig, e.extcondition) AS x(c, w) WHERE e.extname = 'billium' ORDER BY 1"
    [comments]="SELECT format('%s: %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
                FROM pg_description d WHERE d.objoid >= $USER_OID ORDER BY 1"
    [init_privs]="SELECT format('%s %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, $(acl i.initprivs -))
                  FROM pg_init_privs i WHERE i.objoid >= $USER_OID ORDER BY 1"
    [owners]="SELECT format('%s owner=%s', pg_describe_object(d.classid, d.objid, d.objsubid),
                            coalesce((SELECT relowner::regrole::text FROM pg_class WHERE d.classid = 'pg_class'::regclass AND oid = d.objid),
                                     (SELECT proowner::regrole::text FROM pg_proc WHERE d.classid = 'pg_proc'::regclass AND oid = d.objid),
                                     (SELECT typowner::regrole::text FROM pg_type WHERE d.classid = 'pg_type'::regclass AND oid = d.objid),
                                     (SELECT oprowner::regrole::text FROM pg_operator WHERE d.classid = 'pg_operator'::regclass AND oid = d.objid),
                                     (SELECT opfowner::regrole::text FROM pg_opfamily WHERE d.classid = 'pg_opfamily'::regclass AND oid = d.objid),
                                     (SELECT opcowner::regrole::text FROM pg_opclass WHERE d.classid = 'pg_opclass'::regclass AND oid = d.objid),
                                     '-'))
              FROM pg_depend d WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = $EXT AND d.deptype = 'e' ORDER BY 1"
    [extension]="SELECT format('%s %s schema=%s relocatable=%s owner=%s', e.extname, e.extversion, e.extnamespace::regnamespace,
                               e.extrelocatable, e.extowner::regrole) FROM pg_extension e WHERE e.extname = 'billium'"
    [dependencies]="SELECT format('%s -> %s (%s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                                  pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
                    FROM pg_depend d WHERE d.objid >= $USER_OID AND d.deptype IN ('a', 'i')
                      AND d.classid IN ('pg_class'::regclass, 'pg_attrdef'::regclass, 'pg_type'::regclass)
                      AND pg_describe_object(d.classid, d.objid, d.objsubid) NOT LIKE '%pg_toast%'
                    ORDER BY 1"
    [actions]="SELECT format('%s %s secret_only=%s builtin=%s', a.name, a.permission, a.secret_only, a.builtin)
               FROM billium.actions a ORDER BY 1"
    [sequences]="SELECT format('%s %s start=%s inc=%s min=%s max=%s cycle=%s', s.seqrelid::regclass, format_type(s.seqtypid, NULL),
                               s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
                 FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = $SCHEMA ORDER BY 1"
)
for what in extension members owners functions views columns constraints indexes triggers policies relations types operators \
    opfamilies casts schema comments init_privs dump_config sequences dependencies actions; do
    if ! q -d "$DBA" -c "${CATALOG[$what]}" >"$WORK/$what.a" 2>"$WORK/err" ||
        ! q -d "$DBB" -c "${CATALOG[$what]}" >"$WORK/$what.b" 2>"$WORK/err"; then
        not_ok "$what: the catalog query runs"
        diag <"$WORK/err"
        continue
    fi
    n=$(grep -c '' "$WORK/$what.b")
    compare "$what: updated A and fresh B have the same ($n lines)" "$WORK/$what.a" "$WORK/$what.b"
done

# A production install has no test fixture (billium_test_*: they write past the policies; the
# test-only extension billium_test has them), whether installed fresh or updated from 0.5.0.
FIXTURES_SQL="SELECT coalesce(string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1), 'none') FROM pg_proc p
              JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
              WHERE d.refobjid = $EXT AND p.proname LIKE 'billium\\_test\\_%'"
for db in A B; do
    [[ $db == A ]] && name=$DBA || name=$DBB
    found=$(q -d "$name" -c "$FIXTURES_SQL" 2>&1)
    if [[ $found == none ]]; then
        ok "$db: billium has no test fixture (billium_test_*)"
    else
        not_ok "$db: billium has no test fixture (billium_test_*); it has $found"
    fi
done

# The comparison can fail: B with one function body changed (in a transaction rolled back) no
# longer has A's definitions, and the diff names the function.
CHANGED_SQL="BEGIN;
DO \$\$ BEGIN
	EXECUTE replace(pg_get_functiondef('billium.billium_internal_write()'::regprocedure),
					'AS \$function\$', 'AS \$function\$ /* changed */');
END \$\$;
${CATALOG[functions]};
ROLLBACK;"
if q -d "$DBB" -c "$CHANGED_SQL" >"$WORK/functions.changed" 2>"$WORK/err" &&
    ! diff -u "$WORK/functions.a" "$WORK/functions.changed" >"$WORK/diff" &&
    grep -q '^+.*/\* changed \*/' "$WORK/diff"; then
    ok "functions: a changed function body in B is a difference (the comparison can fail)"
else
    not_ok "functions: a changed function body in B is a difference (the comparison can fail)"
    cat "$WORK/err" "$WORK/diff" | head -n 20 | diag
fi

# --- 4. the data of A survived -------------------------------------------------------

# The permission sets, bit for bit, and both indexes still answer (forced index scans).
GRANTS_SQL="SELECT count(*) || ' ' || md5(string_agg(id || '=' || p::text || '/' || p::bigint, ',' ORDER BY id)) FROM public.grants"
compare "public.grants: the 2003 permission sets loaded at $OLDEST are unchanged" \
    <(q -d "$DBA" -c "$GRANTS_SQL") <(q -d "$DBB" -c "$GRANTS_SQL")
INDEX_SQL="SET search_path = public, billium; SET enable_seqscan = off; SET enable_bitmapscan = off;
           SELECT count(*) FROM public.grants WHERE p = '{invoice:*,product:view}';
           SELECT count(*) FROM public.grants WHERE p < '{merchant:billing}';
           SELECT count(*) FROM public.grants WHERE p @> '{invoice:view}'"
compare "public.grants: the btree and hash indexes built at $OLDEST answer as fresh ones" \
    <(q -d "$DBA" -c "$INDEX_SQL") <(q -d "$DBB" -c "$INDEX_SQL")
if [[ $(q -d "$DBA" -c "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'public.grants'::regclass") == t ]]; then
    ok "public.grants: its indexes are valid after the updates"
else
    not_ok "public.grants: its indexes are valid after the updates"
fi

# Row counts of every table (audit_log aside: 0.2.0 had no audit trail, so A's early fixtures
# left no audit rows there), and the contents that do not depend on random ids or clocks.
TABLES_SQL="SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND (n.nspname = 'billium' OR c.oid = 'public.orders'::regclass) ORDER BY 1"
mapfile -t TABLES < <(q -d "$DBB" -c "$TABLES_SQL")
for t in "${TABLES[@]}"; do
    [[ $t == billium.audit_log ]] && continue
    a=$(q -d "$DBA" -c "SELECT count(*) FROM $t" 2>&1)
    b=$(q -d "$DBB" -c "SELECT count(*) FROM $t" 2>&1)
    if [[ $a == "$b" ]]; then ok "$t: $a rows in A, as in B"; else not_ok "$t: $a rows in A, $b in B"; fi
done
CONTENT_SQL="SELECT 'merchant ' || id || ' ' || name || ' ' || enforce_tfa FROM billium.merchants
             UNION ALL SELECT 'user ' || id || ' ' || email || ' ' || tfa_enabled FROM billium.users
             UNION ALL SELECT 'member ' || merchant_id || ' ' || user_id || ' ' || role || ' ' || permissions FROM billium.team_members
             UNION ALL SELECT 'key ' || merchant_id || ' ' || key_type || ' ' || name || ' ' || permissions || ' ' || created_by
                              || ' ' || (revoked_at IS NOT NULL) || ' ' || length(key_hash) FROM billium.api_keys
             UNION ALL SELECT 'invoice ' || merchant_id || ' ' || amount || ' ' || currency || ' ' || status || ' ' || description
                              || ' ' || coalesce(created_by_user::text, '-') || ' ' || (created_by_key IS NOT NULL) FROM billium.invoices
             UNION ALL SELECT 'order ' || merchant_id || ' ' || amount FROM public.orders
             ORDER BY 1"
compare "merchants, users, team, keys, invoices and protected rows of A have the contents of B's" \
    <(q -d "$DBA" -c "$CONTENT_SQL" 2>&1) <(q -d "$DBB" -c "$CONTENT_SQL" 2>&1)

# Behaviour, as the ordinary role: what billium_authorize answers each key for each action on A
# and on B, and how many rows of each table each principal sees.
behaviour() {
    local db=$1 values= label
    local -n keys=$2
    for label in "${!keys[@]}"; do values+="${values:+, }('$label', '${keys[$label]}')"; done
    local tables
    tables=$(printf "'%s'," "${TABLES[@]}")
    tables="ARRAY[${tables%,}, 'billium.reports']"
    q -d "$db" <<SQL
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
		CONTINUE WHEN t = 'billium.audit_log';
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
INSERT INTO keys VALUES $values;
SELECT format('key %s on %s: %s %s', k.label, m.name, a.name, pg_temp.outcome(k.k, a.name, m.id))
FROM keys k CROSS JOIN billium.actions a
CROSS JOIN (VALUES ('A', '$MA'::uuid), ('B', '$MB'::uuid)) AS m(name, id)
ORDER BY 1;
SELECT v FROM (SELECT label FROM keys
			   UNION ALL VALUES ('user $U1'), ('user $U2'), ('user $U3'), ('user $U4'), ('user $U6'), ('nobody')) AS w(who),
			  LATERAL pg_temp.visible(w.who, $tables) AS v
ORDER BY 1;
ROLLBACK;
SQL
}
behaviour "$DBA" KEY_A >"$WORK/behaviour.a" 2>&1
behaviour "$DBB" KEY_B >"$WORK/behaviour.b" 2>&1
grep ' on ' "$WORK/behaviour.a" >"$WORK/gate.a"
grep ' on ' "$WORK/behaviour.b" >"$WORK/gate.b"
grep -v ' on ' "$WORK/behaviour.a" >"$WORK/rows.a"
grep -v ' on ' "$WORK/behaviour.b" >"$WORK/rows.b"

NGATE=$(grep -c '' "$WORK/gate.a")
NACTIONS=$(q -d "$DBA" -c "SELECT count(*) FROM billium.actions")
if ((NGATE == ${#KEY_A[@]} * NACTIONS * 2)) && grep -q 'allowed' "$WORK/gate.a" &&
    grep -q 'API_KEY_REVOKED' "$WORK/gate.a" && grep -q 'MERCHANT_MISMATCH' "$WORK/gate.a"; then
    ok "A's keys, minted before the updates, still verify: $NGATE answers, allowed, revoked and wrong-merchant among them"
else
    not_ok "A's keys still verify (${#KEY_A[@]} keys x $NACTIONS actions x 2 merchants; got $NGATE lines)"
    head -n 20 "$WORK/behaviour.a" | diag
fi
for label in $(printf '%s\n' "${!KEY_A[@]}" | sort); do
    compare "key $label: billium_authorize answers the same in updated A as in fresh B" \
        <(grep "^key $label on " "$WORK/gate.a") <(grep "^key $label on " "$WORK/gate.b")
done
compare "every principal sees as many rows of every table under RLS in A as in B ($(grep -c '' "$WORK/rows.b") cases)" \
    "$WORK/rows.a" "$WORK/rows.b"
if grep -qx 'pk sees 1 rows of billium.invoices' "$WORK/rows.a"; then
    ok "in A the pk key minted at 0.2.0 sees exactly the invoice it created after 0.3.0"
else
    not_ok "in A the pk key minted at 0.2.0 sees exactly the invoice it created after 0.3.0"
    grep 'pk sees .* billium.invoices' "$WORK/rows.a" "$WORK/rows.b" | diag
fi

# A key minted after the updates works, and A's audit trail records it.
if q -d "$DBA" -c "BEGIN; SELECT billium.billium_act_as('$U1');
                   SELECT count(*) FROM billium.billium_create_api_key('$MA', 'sk', '{invoice:view}', 'after the update'); ROLLBACK;" \
    >/dev/null 2>"$WORK/err"; then
    ok "a new key can be minted in the updated database"
else
    not_ok "a new key can be minted in the updated database"
    diag <"$WORK/err"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
