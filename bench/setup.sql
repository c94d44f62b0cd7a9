-- bench/setup.sql: the one data set every part of make bench is measured on.  Run by bench/run.sh
-- as the superuser of a throwaway cluster (psql -v ON_ERROR_STOP=1), never against a database you
-- care about.
--
--   billium.*  1,000 merchants, 1,000 owners (one per merchant), 2,000 members, 10,000 secret
--              keys (10 per merchant, created by the merchant's owner) and 1,000,000 invoices
--              (1,000 per merchant) under billium's row-level security.
--   bench.*    what only the bench needs: the keys' plaintexts (so pgbench can present one); the
--              same 1,000,000 invoices without row-level security (what the request reads, and
--              the floor of the RLS scans) and behind a per-row policy function; 1,000,000
--              permission sets as billium_permset, bigint and text[] for the per-row check.
--   plain.*    the same authorization model in plain SQL over the same keys: pgcrypto's digest
--              and joins, no billium function involved at request time.

\set QUIET on
-- :rows, the invoices and the permission sets (1,000,000 unless run.sh says otherwise: fewer in
-- its BENCH_QUICK smoke run).
\if :{?rows}
\else
\set rows 1000000
\endif
CREATE EXTENSION billium;
CREATE EXTENSION pgcrypto;  -- ships with postgresql-15; digest() is the plain gate's hash
CREATE SCHEMA bench;
CREATE SCHEMA plain;

------------------------------------------------------------------------------------------------
-- Merchants, users and teams.  The ids are drawn here and kept, so that keys can be made for
-- each merchant's owner below.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.tenants AS
SELECT g AS n, gen_random_uuid() AS merchant_id, gen_random_uuid() AS owner_id,
       gen_random_uuid() AS member1_id, gen_random_uuid() AS member2_id
FROM generate_series(1, 1000) AS g;

INSERT INTO billium.merchants (id, name) SELECT merchant_id, 'bench merchant ' || n FROM bench.tenants;
INSERT INTO billium.users (id, email)
SELECT owner_id, 'owner' || n || '@bench.test' FROM bench.tenants
UNION ALL SELECT member1_id, 'member' || n || 'a@bench.test' FROM bench.tenants
UNION ALL SELECT member2_id, 'member' || n || 'b@bench.test' FROM bench.tenants;
-- permissions left out: the extension's trigger fills in the role's cap.
INSERT INTO billium.team_members (merchant_id, user_id, role)
SELECT merchant_id, owner_id, 'OWNER' FROM bench.tenants
UNION ALL SELECT merchant_id, member1_id, 'MEMBER' FROM bench.tenants
UNION ALL SELECT merchant_id, member2_id, 'MEMBER' FROM bench.tenants;

------------------------------------------------------------------------------------------------
-- 10,000 secret keys, 10 per merchant, each created by the merchant's owner.  Minting 10,000
-- through billium_create_api_key would authorize each one; the bench inserts them as the
-- superuser instead, exactly as that function stores them (billium keeps only the SHA-256 of
-- the key's UTF-8 bytes, a 3-character prefix and last 4 as the hint).  The parity check in
-- run.sh then proves billium verifies them and agrees with the plain gate.  The plaintexts are
-- kept in bench.keys so pgbench can send them.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.keys (i int PRIMARY KEY, api_key text NOT NULL, merchant_id uuid NOT NULL);
INSERT INTO bench.keys
SELECT (t.n - 1) * 10 + k, billium.billium_key_generate('sk'), t.merchant_id
FROM bench.tenants AS t, generate_series(1, 10) AS k;
INSERT INTO billium.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
SELECT k.merchant_id, 'sk', 'bench', substr(k.api_key, 1, 3) || '...' || right(k.api_key, 4),
       sha256(convert_to(k.api_key, 'UTF8')), '{invoice:*,product:*}', t.owner_id
FROM bench.keys AS k JOIN bench.tenants AS t USING (merchant_id)
ORDER BY k.i;

-- A few keys off the happy path, only for the parity check in run.sh (pgbench never uses them):
-- a public key, an owner's key with every permission, a revoked key, an expired key, a key minted
-- by an admin who was later demoted to MEMBER, one whose creator's grant was narrowed after, and
-- one whose creator left the team.  Members may not mint keys (no api_key:create), so the
-- creators are admins at minting time and changed afterwards, as would happen in real life.
CREATE TABLE bench.odd_keys (what text PRIMARY KEY, api_key text NOT NULL, merchant_id uuid NOT NULL);

INSERT INTO billium.users (id, email)
SELECT owner_id, 'leaver@bench.test' FROM (SELECT gen_random_uuid() AS owner_id) AS u;
UPDATE billium.team_members tm SET role = 'ADMIN'
FROM bench.tenants t WHERE t.n = 1 AND tm.merchant_id = t.merchant_id AND tm.user_id IN (t.member1_id, t.member2_id);
INSERT INTO billium.team_members (merchant_id, user_id, role)
SELECT t.merchant_id, u.id, 'ADMIN' FROM bench.tenants t, billium.users u
WHERE t.n = 1 AND u.email = 'leaver@bench.test';

DO $$
DECLARE
	t bench.tenants;
	leaver uuid := (SELECT id FROM billium.users WHERE email = 'leaver@bench.test');
	minted record;
BEGIN
	SELECT * INTO t FROM bench.tenants WHERE n = 1;
	PERFORM billium.billium_act_as(t.owner_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'pk', '{invoice:view,product:view}', 'bench pk');
	INSERT INTO bench.odd_keys VALUES ('public key', minted.api_key, t.merchant_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{*}', 'bench owner all');
	INSERT INTO bench.odd_keys VALUES ('owner key, all permissions', minted.api_key, t.merchant_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:view}', 'bench revoked');
	INSERT INTO bench.odd_keys VALUES ('revoked key', minted.api_key, t.merchant_id);
	PERFORM billium.billium_revoke_api_key(minted.id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:view}', 'bench expired',
															 now() - interval '1 day');
	INSERT INTO bench.odd_keys VALUES ('expired key', minted.api_key, t.merchant_id);

	PERFORM billium.billium_act_as(t.member1_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:*,product:*}', 'bench demoted');
	INSERT INTO bench.odd_keys VALUES ('admin key, creator demoted to MEMBER', minted.api_key, t.merchant_id);

	PERFORM billium.billium_act_as(t.member2_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:view,product:view}', 'bench narrowed');
	INSERT INTO bench.odd_keys VALUES ('admin key, creator''s grant narrowed', minted.api_key, t.merchant_id);

	PERFORM billium.billium_act_as(leaver);
	SELECT * INTO minted FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:view}', 'bench leaver');
	INSERT INTO bench.odd_keys VALUES ('admin key, creator left the team', minted.api_key, t.merchant_id);
END
$$;
-- The changes after minting.  The role change keeps a full grant full within the new cap.
UPDATE billium.team_members tm SET role = 'MEMBER'
FROM bench.tenants t WHERE t.n = 1 AND tm.merchant_id = t.merchant_id AND tm.user_id = t.member1_id;
UPDATE billium.team_members tm SET permissions = '{invoice:view}'
FROM bench.tenants t WHERE t.n = 1 AND tm.merchant_id = t.merchant_id AND tm.user_id = t.member2_id;
DELETE FROM billium.team_members tm USING billium.users u
WHERE tm.user_id = u.id AND u.email = 'leaver@bench.test';

------------------------------------------------------------------------------------------------
-- 1,000,000 invoices, 1,000 per merchant, arriving interleaved (one merchant's rows spread over
-- the whole table, as over months of traffic), in three tables holding the same rows:
--   billium.invoices        billium's row-level security (the policies of the extension);
--   bench.invoices          none at all: what the request's one indexed read reads (the same
--                           table for every gate, so only the gate differs), and the floor of
--                           the RLS scans;
--   bench.invoices_perrow   the usual hand-written policy: a STABLE plpgsql function per row
--                           asking a team table with text[] permissions.
------------------------------------------------------------------------------------------------

ALTER TABLE billium.invoices DISABLE TRIGGER USER;   -- the bulk load has no principal to record
-- With the triggers off, the load gives the columns the server would fill (ids have no default).
INSERT INTO billium.invoices (merchant_id, id, amount, currency, status)
SELECT t.merchant_id, gen_random_uuid(), g % 100000, 'usd', (ARRAY['open', 'paid', 'cancelled'])[1 + g % 3]
FROM generate_series(0, :rows - 1) AS g JOIN bench.tenants AS t ON t.n = 1 + g % 1000
ORDER BY g;   -- in arrival order: a merchant's rows lie on ~1,000 different pages
ALTER TABLE billium.invoices ENABLE TRIGGER USER;

CREATE TABLE bench.invoices AS SELECT * FROM billium.invoices;
ALTER TABLE bench.invoices ADD PRIMARY KEY (merchant_id, id);
CREATE TABLE bench.invoices_perrow AS SELECT * FROM billium.invoices;
ALTER TABLE bench.invoices_perrow ADD PRIMARY KEY (merchant_id, id);

-- The usual way: a team table with text[] permissions and a function the policy calls per row.
-- The user is named by a setting, as an application would set it per transaction.
CREATE TABLE bench.team (merchant_id uuid, user_id uuid, permissions text[], PRIMARY KEY (merchant_id, user_id));
INSERT INTO bench.team
SELECT merchant_id, user_id, billium.billium_permset_names(permissions) FROM billium.team_members;
CREATE FUNCTION bench.may_view(m uuid) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN EXISTS (SELECT 1 FROM bench.team t
				   WHERE t.merchant_id = m AND t.user_id = current_setting('bench.user_id')::uuid
					 AND 'invoice:view' = ANY (t.permissions));
END $$;
ALTER TABLE bench.invoices_perrow ENABLE ROW LEVEL SECURITY;
CREATE POLICY perrow_view ON bench.invoices_perrow FOR SELECT USING (bench.may_view(merchant_id));

-- The RLS scans run as an ordinary role (a superuser bypasses row-level security).
CREATE ROLE bench_app LOGIN;
GRANT billium_api, billium_admin TO bench_app;
GRANT USAGE ON SCHEMA bench TO bench_app;
GRANT SELECT ON bench.invoices, bench.invoices_perrow, bench.team TO bench_app;

------------------------------------------------------------------------------------------------
-- The per-row permission check: 1,000,000 permission sets, each a random subset of the catalog,
-- stored three ways, in three tables of one column each, row for row the same: billium_permset;
-- its bigint (the same bits); and the names as text[] in the catalog's order (the usual schema).
-- One table per form, so that each check is timed against a bare scan of its own table: a wide
-- text[] row would otherwise make every scan pay for memory traffic that only text[] causes.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.perms_gen AS
SELECT g AS i, billium.billium_permset_from_bigint((random() * all_bits)::bigint & all_bits) AS p
FROM (SELECT billium.billium_permset_from_names('{*}')::bigint AS all_bits) AS c,
	 generate_series(1, :rows) AS g;
CREATE TABLE bench.perms_permset AS SELECT p FROM bench.perms_gen ORDER BY i;
CREATE TABLE bench.perms_bigint AS SELECT p::bigint AS b FROM bench.perms_gen ORDER BY i;
CREATE TABLE bench.perms_text AS SELECT billium.billium_permset_names(p) AS t FROM bench.perms_gen ORDER BY i;

------------------------------------------------------------------------------------------------
-- The plain-SQL peer: the same model in ordinary tables, permissions as text arrays and rows.
------------------------------------------------------------------------------------------------

CREATE TABLE plain.api_keys (
	key_hash bytea NOT NULL UNIQUE,
	merchant_id uuid NOT NULL,
	key_type text NOT NULL,
	created_by uuid NOT NULL,
	permissions text[] NOT NULL,
	revoked_at timestamptz,
	expires_at timestamptz
);
CREATE TABLE plain.team_members (
	merchant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	role text NOT NULL,
	permissions text[] NOT NULL,
	PRIMARY KEY (merchant_id, user_id)
);
CREATE TABLE plain.role_permissions (role text, permission text, PRIMARY KEY (role, permission));
CREATE TABLE plain.key_type_permissions (key_type text, permission text, PRIMARY KEY (key_type, permission));
CREATE TABLE plain.actions (name text PRIMARY KEY, permission text NOT NULL, secret_only boolean NOT NULL);

-- The same keys: billium stores sha256 of the plaintext, which is what digest() computes.
INSERT INTO plain.api_keys
SELECT key_hash, merchant_id, key_type, created_by, billium.billium_permset_names(permissions),
       revoked_at, expires_at
FROM billium.api_keys;
INSERT INTO plain.team_members
SELECT merchant_id, user_id, role, billium.billium_permset_names(permissions) FROM billium.team_members;
INSERT INTO plain.role_permissions
SELECT r.role, p FROM billium.roles AS r, unnest(billium.billium_permset_names(r.permissions)) AS p;
INSERT INTO plain.key_type_permissions
SELECT kt.key_type, p FROM billium.key_types AS kt, unnest(billium.billium_permset_names(kt.permissions)) AS p;
-- Actions that need a permission; those for one team role in a dashboard session (permission
-- null, e.g. team.transfer_ownership) are no key's to call and are left out of the peer.
INSERT INTO plain.actions SELECT name, permission, secret_only FROM billium.actions WHERE permission IS NOT NULL;

-- Refuse to go on if the hashes do not line up: the plain gate would then refuse every key.
DO $$
BEGIN
	IF EXISTS (SELECT FROM bench.keys k
			   WHERE NOT EXISTS (SELECT FROM plain.api_keys p
								 WHERE p.key_hash = public.digest(k.api_key, 'sha256'))) THEN
		RAISE EXCEPTION 'bench setup: digest(api_key, ''sha256'') does not find every key billium minted';
	END IF;
END
$$;

-- plain.authorize: billium_authenticate + billium_authorize for an API key, in plain SQL.
-- The same rules in the same order: the key by its SHA-256, not revoked, not expired, of the
-- merchant asked about, a public key only on actions open to it, and the action's permission in
-- the key's grant AND its type's cap AND the creator's team grant AND the creator's role's cap.
-- Everything is schema-qualified instead of a SET search_path clause, which would cost a GUC
-- save and restore per call: the peer gets the fastest honest form.
CREATE FUNCTION plain.authorize(api_key text, action text, merchant uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	k record;
BEGIN
	SELECT ak.merchant_id, ak.key_type, ak.revoked_at, ak.expires_at, a.permission, a.secret_only,
		   -- coalesce: a creator no longer on the team (no tm row) grants nothing, not null.
		   coalesce(a.permission = ANY (ak.permissions)
					AND kt.permission IS NOT NULL
					AND a.permission = ANY (tm.permissions)
					AND rp.permission IS NOT NULL, false) AS granted
	INTO k
	FROM plain.api_keys AS ak
	JOIN plain.actions AS a ON a.name = authorize.action
	LEFT JOIN plain.key_type_permissions AS kt
		ON kt.key_type = ak.key_type AND kt.permission = a.permission
	LEFT JOIN plain.team_members AS tm
		ON tm.merchant_id = ak.merchant_id AND tm.user_id = ak.created_by
	LEFT JOIN plain.role_permissions AS rp
		ON rp.role = tm.role AND rp.permission = a.permission
	WHERE ak.key_hash = public.digest(authorize.api_key, 'sha256');

	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM plain.actions AS a WHERE a.name = authorize.action) THEN
			RAISE EXCEPTION 'unknown action "%"', action USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RAISE EXCEPTION 'the API key is not valid' USING ERRCODE = 'invalid_authorization_specification';
	ELSIF k.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'the API key has been revoked' USING ERRCODE = 'invalid_authorization_specification';
	ELSIF k.expires_at <= now() THEN
		RAISE EXCEPTION 'the API key has expired' USING ERRCODE = 'invalid_authorization_specification';
	ELSIF merchant IS NOT NULL AND k.merchant_id <> merchant THEN
		RAISE EXCEPTION 'the API key belongs to another merchant' USING ERRCODE = 'insufficient_privilege';
	ELSIF k.secret_only AND k.key_type = 'pk' THEN
		RAISE EXCEPTION 'this action requires a secret key' USING ERRCODE = 'insufficient_privilege';
	ELSIF NOT k.granted THEN
		RAISE EXCEPTION 'the caller lacks the permission this action requires'
			USING ERRCODE = 'insufficient_privilege', DETAIL = 'required: ' || k.permission;
	END IF;
	RETURN true;
END
$$;

------------------------------------------------------------------------------------------------
-- Helpers for run.sh: the outcome of one call through each gate (parity check), and the
-- per-call timing loops.
------------------------------------------------------------------------------------------------

-- 'allow', or the SQLSTATE of the refusal.  The exception block is a subtransaction; that is fine
-- for a parity check, and is why the timing loops below do not use this.
CREATE FUNCTION bench.outcome_billium(api_key text, action text, merchant uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM billium.billium_authenticate(api_key);
	PERFORM billium.billium_authorize(action, merchant);
	RETURN 'allow';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE FUNCTION bench.outcome_plain(api_key text, action text, merchant uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM plain.authorize(api_key, action, merchant);
	RETURN 'allow';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

-- A one-call gate (authenticate and authorize in one function, for backends that send the gate
-- as its own statement; issue 15), if this billium has one: a function of the extension's schema,
-- other than billium_authenticate and billium_authorize, with a text argument named like "key"
-- (api_key, key), one named like "action", optionally a uuid named like "merchant", and defaults
-- for any other.  Detected here rather than named, so the bench measures whatever it is called;
-- run.sh reports which one it found, or that there is none.
CREATE TABLE bench.onecall_gate AS
WITH args AS (
	SELECT p.oid, p.proname, p.pronargs, p.pronargdefaults, a.typ, a.name
	FROM pg_proc AS p
	JOIN pg_namespace AS n ON n.oid = p.pronamespace,
	LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[])
		AS a(typ, name, mode)
	WHERE n.nspname = 'billium' AND p.prokind = 'f'
	  AND p.proname NOT IN ('billium_authenticate', 'billium_authorize')
	  AND coalesce(a.mode, 'i') IN ('i', 'b')
)
SELECT format('billium.%I', proname) AS fn,
	   max(name) FILTER (WHERE typ = 'text'::regtype AND name ~ '(^|_)key$') AS key_arg,
	   max(name) FILTER (WHERE typ = 'text'::regtype AND name ~ 'action') AS action_arg,
	   max(name) FILTER (WHERE typ = 'uuid'::regtype AND name ~ 'merchant') AS merchant_arg
FROM args
GROUP BY oid, proname, pronargs, pronargdefaults
HAVING max(name) FILTER (WHERE typ = 'text'::regtype AND name ~ '(^|_)key$') IS NOT NULL
   AND max(name) FILTER (WHERE typ = 'text'::regtype AND name ~ 'action') IS NOT NULL
   AND pronargs - 2 - count(*) FILTER (WHERE typ = 'uuid'::regtype AND name ~ 'merchant') <= pronargdefaults
ORDER BY proname
LIMIT 1;

-- µs per call of one gate, over n calls cycling through the 10,000 keys, after a warm-up pass
-- over all of them (plan caches, catalog caches, buffers, and billium's key cache, which holds
-- 10,000 keys by default: the timed calls are cache hits unless the session turned it off).
-- The keys are read into arrays first so the loop measures the gate, not bench.keys.  'loop'
-- times the same loop with no gate in it: the PL/pgSQL overhead that every figure includes.
-- 'authenticate' is billium's key verification alone, for the cache's hit and miss paths.
-- The fast path's steps (issue 15): 'sha256', PostgreSQL's sha256() of the key (the floor: one
-- SHA-256; the probe of an in-memory hash table adds tens of nanoseconds); 'verify',
-- billium_key_verify (a cache hit); 'sqlverify', a tuned SQL verify (the digest, the unique
-- index's probe, the join to the creator's team row); 'onecall', the one-call gate when
-- bench.onecall_gate found one (an error otherwise).  Made by EXECUTE so that the one-call gate
-- is a static call in the loop, planned once, like every other step.
DO $do$
DECLARE
	g bench.onecall_gate;
	onecall text := 'RAISE EXCEPTION ''this billium has no one-call gate'';';
BEGIN
	SELECT * INTO g FROM bench.onecall_gate;
	IF FOUND THEN
		onecall := format('PERFORM %s(%I => key_list[j], %I => ''invoices.retrieve''%s);', g.fn, g.key_arg,
						  g.action_arg, CASE WHEN g.merchant_arg IS NOT NULL
										THEN format(', %I => merchants[j]', g.merchant_arg) ELSE '' END);
	END IF;
	EXECUTE replace($fn$
CREATE FUNCTION bench.per_call_us(gate text, n int) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
	key_list text[];
	merchants uuid[];
	nkeys int;
	started timestamptz;
	j int;
BEGIN
	SELECT array_agg(k.api_key ORDER BY k.i), array_agg(k.merchant_id ORDER BY k.i)
	INTO key_list, merchants FROM bench.keys AS k;
	nkeys := cardinality(key_list);
	FOR pass IN 1..2 LOOP
		started := clock_timestamp();
		FOR i IN 1..CASE pass WHEN 1 THEN nkeys ELSE n END LOOP
			j := 1 + i % nkeys;
			CASE gate
			WHEN 'billium' THEN
				-- authenticate makes each call verify its key afresh: the principal is otherwise
				-- cached for the rest of the transaction, and this loop is one transaction.  One
				-- statement, like the plain gate's one call.
				PERFORM billium.billium_authorize('invoices.retrieve', merchants[j])
				FROM billium.billium_authenticate(key_list[j]);
			WHEN 'authenticate' THEN
				PERFORM billium.billium_authenticate(key_list[j]);
			WHEN 'plain' THEN
				PERFORM plain.authorize(key_list[j], 'invoices.retrieve', merchants[j]);
			WHEN 'loop' THEN
				PERFORM key_list[j], merchants[j];
			WHEN 'sha256' THEN
				PERFORM sha256(convert_to(key_list[j], 'UTF8')), merchants[j];
			WHEN 'verify' THEN
				PERFORM billium.billium_key_verify(key_list[j]), merchants[j];
			WHEN 'sqlverify' THEN
				PERFORM k.merchant_id, k.key_type, k.revoked_at, k.expires_at,
						k.permissions OPERATOR(billium.&) tm.permissions
				FROM billium.api_keys AS k
				LEFT JOIN billium.team_members AS tm ON tm.merchant_id = k.merchant_id AND tm.user_id = k.created_by
				WHERE k.key_hash = sha256(convert_to(key_list[j], 'UTF8'));
			WHEN 'onecall' THEN
				@ONECALL@
			END CASE;
		END LOOP;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / n;
END
$$;
$fn$, '@ONECALL@', onecall);
END
$do$;

-- The key cache's memory: authenticate the first n bench keys in order (one transaction, as the
-- calls of any backend would add them), and after every `every` keys read what this backend's
-- cache holds: the bytes of its memory context, allocated and in use.  That context is the hash
-- table's own, named "billium key cache": it holds the table and every entry
-- (pg_backend_memory_contexts, PostgreSQL 14+).  Run in a session of its own, so the cache
-- starts empty.
CREATE FUNCTION bench.key_cache_bytes(n int, every int)
RETURNS TABLE (keys_seen int, bytes bigint, used_bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
	key_list text[];
BEGIN
	SELECT array_agg(k.api_key ORDER BY k.i) INTO key_list FROM bench.keys AS k WHERE k.i <= n;
	FOR i IN 1..cardinality(key_list) LOOP
		PERFORM billium.billium_authenticate(key_list[i]);
		IF i % every = 0 THEN
			keys_seen := i;
			SELECT coalesce(sum(c.total_bytes), 0), coalesce(sum(c.used_bytes), 0) INTO bytes, used_bytes
			FROM pg_backend_memory_contexts AS c WHERE c.name = 'billium key cache';
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;

-- Best of `runs` executions of a query, in ms, as the calling role: prepared once and executed
-- (as a driver with prepared statements does; the plan is made per execution or reused, as the
-- server decides), or planned anew every time.
CREATE FUNCTION bench.best_ms(query text, runs int, prepared boolean DEFAULT true) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
	best numeric := 'Infinity';
	started timestamptz;
BEGIN
	IF prepared THEN
		EXECUTE 'PREPARE bench_q AS ' || query;
	END IF;
	FOR i IN 1..runs LOOP
		started := clock_timestamp();
		IF prepared THEN
			EXECUTE 'EXECUTE bench_q';
		ELSE
			EXECUTE query;
		END IF;
		best := least(best, extract(epoch FROM clock_timestamp() - started) * 1000);
	END LOOP;
	IF prepared THEN
		DEALLOCATE bench_q;
	END IF;
	RETURN round(best, 3);
END
$$;
GRANT EXECUTE ON FUNCTION bench.best_ms(text, int, boolean) TO bench_app;

-- Where the RLS and per-row check scans put their figures for run.sh's report.
CREATE TABLE bench.results (part text, measure text, variant text, ms numeric, rows_seen bigint,
							PRIMARY KEY (part, measure, variant));
GRANT SELECT, INSERT, UPDATE ON bench.results TO bench_app;

VACUUM ANALYZE;
