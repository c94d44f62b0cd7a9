-- bench/setup.sql: the data both gates are measured on.  Run by bench/run.sh as the superuser of
-- a throwaway cluster (psql -v ON_ERROR_STOP=1), never against a database you care about.
--
--   billium.*  100 merchants, 100 owners (one per merchant), 200 members, 1,000 secret keys
--              minted through billium_create_api_key, as an application would.
--   bench.*    what only the bench needs: the keys' plaintexts (so pgbench can present one),
--              and ~100k invoices for the request's "one indexed read".
--   plain.*    the same authorization model in plain SQL over the same keys: pgcrypto's digest
--              and joins, no billium function involved at request time.

\set QUIET on
CREATE EXTENSION billium;
CREATE EXTENSION pgcrypto;  -- ships with postgresql-15; digest() is the plain gate's hash
CREATE SCHEMA bench;
CREATE SCHEMA plain;

------------------------------------------------------------------------------------------------
-- Merchants, users and teams.  The ids are drawn here and kept, so that keys can be minted by
-- each merchant's owner below.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.tenants AS
SELECT g AS n, gen_random_uuid() AS merchant_id, gen_random_uuid() AS owner_id,
       gen_random_uuid() AS member1_id, gen_random_uuid() AS member2_id
FROM generate_series(1, 100) AS g;

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
-- 1,000 secret keys, 10 per merchant, each minted by the merchant's owner.  billium keeps only
-- the SHA-256; the plaintext exists once, here, and the bench keeps it so pgbench can send it.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.keys (i int PRIMARY KEY, api_key text NOT NULL, merchant_id uuid NOT NULL);

DO $$
DECLARE
	t bench.tenants;
	minted record;
BEGIN
	FOR t IN SELECT * FROM bench.tenants ORDER BY n LOOP
		-- The principal is per transaction; act_as switches it within this one.
		PERFORM billium.billium_act_as(t.owner_id);
		FOR k IN 1..10 LOOP
			SELECT * INTO minted
			FROM billium.billium_create_api_key(t.merchant_id, 'sk', '{invoice:*,product:*}', 'bench');
			INSERT INTO bench.keys VALUES ((t.n - 1) * 10 + k, minted.api_key, t.merchant_id);
		END LOOP;
	END LOOP;
END
$$;

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
-- What the request reads: ~100k invoices spread over the merchants, and the index the read uses.
------------------------------------------------------------------------------------------------

CREATE TABLE bench.invoices (id bigserial PRIMARY KEY, merchant_id uuid NOT NULL, amount bigint NOT NULL);
INSERT INTO bench.invoices (merchant_id, amount)
SELECT t.merchant_id, (random() * 100000)::bigint
FROM generate_series(1, 100000) AS g JOIN bench.tenants AS t ON t.n = 1 + g % 100;
CREATE INDEX invoices_merchant_id_id ON bench.invoices (merchant_id, id);

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
INSERT INTO plain.actions SELECT name, permission, secret_only FROM billium.actions;

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

-- µs per call of one gate, over n calls cycling through the 1,000 keys, after a warm-up of 1,000
-- (plan caches, catalog caches, buffers).  The keys are read into arrays first so the loop
-- measures the gate, not bench.keys.  'loop' times the same loop with no gate in it: the
-- PL/pgSQL overhead that both gate figures include.
CREATE FUNCTION bench.per_call_us(gate text, n int) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
	key_list text[];
	merchants uuid[];
	started timestamptz;
	j int;
BEGIN
	SELECT array_agg(k.api_key ORDER BY k.i), array_agg(k.merchant_id ORDER BY k.i)
	INTO key_list, merchants FROM bench.keys AS k;
	FOR pass IN 1..2 LOOP
		started := clock_timestamp();
		FOR i IN 1..CASE pass WHEN 1 THEN 1000 ELSE n END LOOP
			j := 1 + i % 1000;
			CASE gate
			WHEN 'billium' THEN
				-- authenticate makes each call verify its key afresh: the principal is otherwise
				-- cached for the rest of the transaction, and this loop is one transaction.  One
				-- statement, like the plain gate's one call.
				PERFORM billium.billium_authorize('invoices.retrieve', merchants[j])
				FROM billium.billium_authenticate(key_list[j]);
			WHEN 'plain' THEN
				PERFORM plain.authorize(key_list[j], 'invoices.retrieve', merchants[j]);
			WHEN 'loop' THEN
				PERFORM key_list[j], merchants[j];
			END CASE;
		END LOOP;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / n;
END
$$;

VACUUM ANALYZE;
