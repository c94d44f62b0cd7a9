-- Row-level security on the tables of the merchant model (issue 4): merchants, users,
-- team_members, api_keys and the audit trail.  Merchants and team_members are tried for each
-- command against the four roles of merchant A (dashboard sessions through billium_act_as), sk
-- keys with and without the permission, a pk key and no principal; users, api_keys and
-- audit_log for what each principal sees and that nobody writes them directly.  Also the
-- guards that ride on the policies: the enforce_* flags (OWNER's dashboard session only),
-- nobody granting above their own, the one OWNER, billium_create_merchant and
-- billium_transfer_ownership.
--
-- The expected outcomes come from the role caps typed below from the spec.  Writes are tried in
-- a subtransaction and undone; the outcome string carries 'ok' or the SQLSTATE, the rows
-- affected, and whether A's and B's rows changed (superuser checksums).  42501 comes in three
-- kinds: 'rls' (new row violates row-level security policy), 'denied' (the PERMISSION_DENIED
-- envelope of a guard) and 'privilege' (no GRANT: permission denied for table/column).
BEGIN;
DO $$ BEGIN IF (SELECT extversion FROM pg_extension WHERE extname='billium') < '0.3.0' THEN ALTER EXTENSION billium UPDATE TO '0.3.0'; END IF; END $$;
SELECT plan(151);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  Merchant A ...001, merchant B ...002.  On A: OWNER, ADMIN,
-- MEMBER, VIEWER; a second ADMIN whose grant lacks webhook:delete; two VIEWERs narrowed to
-- {team:view} and to {api_key:view}.  On B: an OWNER and a MEMBER.  An outsider on no team and
-- an invitee on no team yet.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a0000000-0000-0000-0000-000000000001', 'rls core A'),
	('a0000000-0000-0000-0000-000000000002', 'rls core B secret');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner@rls-core.test'),
	('b0000000-0000-0000-0000-000000000002', 'admin@rls-core.test'),
	('b0000000-0000-0000-0000-000000000003', 'member@rls-core.test'),
	('b0000000-0000-0000-0000-000000000004', 'viewer@rls-core.test'),
	('b0000000-0000-0000-0000-000000000005', 'outsider@rls-core.test'),
	('b0000000-0000-0000-0000-000000000006', 'owner-b@rls-core.test'),
	('b0000000-0000-0000-0000-000000000007', 'member-b@rls-core.test'),
	('b0000000-0000-0000-0000-000000000008', 'invitee@rls-core.test'),
	('b0000000-0000-0000-0000-000000000009', 'admin-narrow@rls-core.test'),
	('b0000000-0000-0000-0000-00000000000a', 'team-only@rls-core.test'),
	('b0000000-0000-0000-0000-00000000000b', 'keys-only@rls-core.test');
INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', 'ADMIN', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003', 'MEMBER', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'VIEWER', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000009', 'ADMIN',
	 billium.billium_permset_from_names(ARRAY['merchant:view', 'merchant:edit', 'invoice:*', 'product:*', 'customer:*',
		'team:*', 'api_key:*', 'webhook:view', 'webhook:create', 'webhook:edit', 'checkout:*', 'wallet:*', 'report:view'])),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-00000000000a', 'VIEWER',
	 billium.billium_permset_from_names(ARRAY['team:view'])),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-00000000000b', 'VIEWER',
	 billium.billium_permset_from_names(ARRAY['api_key:view'])),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER', NULL),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000007', 'MEMBER', NULL);

-- The superuser's view, for checksums (SECURITY DEFINER: the superuser bypasses RLS).
CREATE FUNCTION pg_temp.rls_sum(tbl text, col text, m uuid) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	s text;
BEGIN
	EXECUTE format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM billium.%I t WHERE t.%I = $1',
				   ',', '', tbl, col) INTO s USING m;
	RETURN s;
END
$$;
CREATE FUNCTION pg_temp.rls_count(sql text) RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE sql INTO n;
	RETURN n;
END
$$;

CREATE ROLE tap_rls_app LOGIN;
GRANT billium_api, billium_admin TO tap_rls_app;

SET LOCAL ROLE tap_rls_app;
SET LOCAL search_path = public, billium;

------------------------------------------------------------------------------------------------
-- The policies, and RLS enabled and forced on every table but the catalogs of actions and policy rules.
------------------------------------------------------------------------------------------------

SELECT policies_are('billium', 'merchants', ARRAY['merchants_view', 'merchants_edit', 'merchants_delete'],
	'merchants: view, edit, delete, and no INSERT policy');
SELECT policies_are('billium', 'users', ARRAY['users_view'], 'users: a SELECT policy only');
SELECT policies_are('billium', 'team_members',
	ARRAY['team_members_view', 'team_members_invite', 'team_members_manage_roles', 'team_members_remove'],
	'team_members: view, invite, manage_roles, remove');
SELECT policies_are('billium', 'api_keys', ARRAY['api_keys_view'], 'api_keys: a SELECT policy only');
SELECT policies_are('billium', 'audit_log', ARRAY['audit_log_view', 'audit_log_view_team'],
	'audit_log: SELECT policies only (append-only): key events, and team and security events');
SELECT policy_cmd_is('billium', t, p, c, format('policy %s applies to %s', p, c))
FROM (VALUES (1, 'merchants', 'merchants_view', 'select'), (2, 'merchants', 'merchants_edit', 'update'),
			 (3, 'merchants', 'merchants_delete', 'delete'), (4, 'users', 'users_view', 'select'),
			 (5, 'team_members', 'team_members_view', 'select'), (6, 'team_members', 'team_members_invite', 'insert'),
			 (7, 'team_members', 'team_members_manage_roles', 'update'), (8, 'team_members', 'team_members_remove', 'delete'),
			 (9, 'api_keys', 'api_keys_view', 'select'), (10, 'audit_log', 'audit_log_view', 'select')) AS v(o, t, p, c)
ORDER BY o;
SELECT is_empty($$
	SELECT relname FROM pg_class
	WHERE relnamespace = 'billium'::regnamespace AND relkind IN ('r', 'p') AND relname NOT IN ('actions', 'policy_rules')
	  AND NOT (relrowsecurity AND relforcerowsecurity)$$,
	'every table of schema billium but the catalogs of actions and policy rules has row-level security enabled and forced');

------------------------------------------------------------------------------------------------
-- Caps typed from the spec (the permissions this file needs), principals, keys.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE expected_caps (
	permission text PRIMARY KEY, owner boolean, admin boolean, member boolean, viewer boolean
);
INSERT INTO expected_caps VALUES
	--                    OWNER ADMIN  MEMBER VIEWER
	('merchant:view',     true, true,  true,  true),
	('merchant:edit',     true, true,  false, false),
	('merchant:delete',   true, false, false, false),
	('merchant:billing',  true, false, false, false),
	('team:view',         true, true,  true,  true),
	('team:invite',       true, true,  false, false),
	('team:remove',       true, true,  false, false),
	('team:manage_roles', true, true,  false, false),
	('api_key:view',      true, true,  true,  true),
	('api_key:create',    true, true,  false, false);

CREATE TEMP TABLE people (label text PRIMARY KEY, id uuid NOT NULL);
INSERT INTO people VALUES
	('OWNER', 'b0000000-0000-0000-0000-000000000001'), ('ADMIN', 'b0000000-0000-0000-0000-000000000002'),
	('MEMBER', 'b0000000-0000-0000-0000-000000000003'), ('VIEWER', 'b0000000-0000-0000-0000-000000000004'),
	('outsider', 'b0000000-0000-0000-0000-000000000005'), ('OWNER of B', 'b0000000-0000-0000-0000-000000000006'),
	('admin-narrow', 'b0000000-0000-0000-0000-000000000009'), ('team-only', 'b0000000-0000-0000-0000-00000000000a'),
	('keys-only', 'b0000000-0000-0000-0000-00000000000b');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A to mint the keys');
-- Written by the billium_test_key fixture: a key with one edit or delete permission (or every
-- permission but one view) lacks a domain's view, which billium_create_api_key refuses since
-- 0.6.0 (test/pgtap/grant_shape.sql); these stand for such keys from before it.
CREATE TEMP TABLE keys AS
SELECT p.permission, w.mode, NULL::uuid AS id, k.api_key
FROM (VALUES ('merchant:view'), ('merchant:edit'), ('merchant:delete'), ('team:view'), ('team:invite'),
			 ('team:manage_roles'), ('team:remove'), ('api_key:view')) AS p(permission)
CROSS JOIN (VALUES ('with'), ('without')) AS w(mode),
LATERAL billium_test_key('a0000000-0000-0000-0000-000000000001', 'sk',
	CASE w.mode WHEN 'with' THEN billium_permset_from_names(ARRAY[p.permission])
		 ELSE billium_permset_from_names(ARRAY['*']) - billium_permset_from_names(ARRAY[p.permission]) END) AS k(api_key);
UPDATE keys SET id = (billium_key_verify(api_key)).key_id;
-- Keys for the team writes: the guard wants the caller to hold the cap of the role it grants,
-- so these hold the VIEWER cap besides the one team permission.
INSERT INTO keys
SELECT NULL, v.mode, k.id, k.api_key
FROM (VALUES ('all', '{*}'),
			 ('invite', '{team:invite,merchant:view,invoice:view,product:view,customer:view,team:view,api_key:view,webhook:view,checkout:view,wallet:view,report:view}'),
			 ('manage', '{team:manage_roles,merchant:view,invoice:view,product:view,customer:view,team:view,api_key:view,webhook:view,checkout:view,wallet:view,report:view}'),
			 ('remove', '{team:remove,team:view}'),
			 ('pk', '{invoice:create,invoice:view,product:view}')) AS v(mode, perms),
LATERAL billium_create_api_key('a0000000-0000-0000-0000-000000000001',
							   CASE v.mode WHEN 'pk' THEN 'pk' ELSE 'sk' END, v.perms::billium_permset, 'rls ' || v.mode) k;
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000006')).user_id,
	'b0000000-0000-0000-0000-000000000006'::uuid, 'act as the OWNER of B to mint a key of B');
INSERT INTO keys
SELECT NULL, 'B all', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000002', 'sk', '{*}', 'B secret key');
SELECT is((SELECT count(*) FROM keys), 22::bigint, 'sixteen with/without keys, four more sk keys and a pk key on A; one key on B');

CREATE FUNCTION pg_temp.become(label text, perm text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	k text;
BEGIN
	IF label LIKE 'sk %' OR label LIKE 'key %' OR label = 'pk' THEN
		k := CASE WHEN label IN ('sk with', 'sk without')
					   THEN (SELECT api_key FROM keys WHERE mode = substr(label, 4) AND permission = perm)
				  WHEN label = 'pk' THEN (SELECT api_key FROM keys WHERE mode = 'pk')
				  ELSE (SELECT api_key FROM keys WHERE mode = substr(label, 5)) END;
		IF k IS NULL THEN
			RAISE EXCEPTION 'test harness: no key for % %', label, perm;
		END IF;
		PERFORM billium_authenticate(k);
	ELSIF label = 'none' THEN
		PERFORM set_config('billium.api_key', '', true);
		IF (billium_current_principal()).kind IS NOT NULL THEN
			RAISE EXCEPTION 'test harness: could not clear the principal';
		END IF;
	ELSE
		PERFORM billium_act_as((SELECT id FROM people p WHERE p.label = become.label));
	END IF;
END
$$;

CREATE FUNCTION pg_temp.look(tbl text, col text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a bigint; b bigint; st text; msg text;
BEGIN
	EXECUTE format('SELECT count(*) FILTER (WHERE %I = %L), count(*) FILTER (WHERE %I <> %L) FROM billium.%I',
				   col, 'a0000000-0000-0000-0000-000000000001', col, 'a0000000-0000-0000-0000-000000000001', tbl)
		INTO a, b;
	RETURN format('sees A=%s B=%s', a, b);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ' ' || msg;
END
$$;

CREATE FUNCTION pg_temp.attempt(tbl text, col text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a0 text := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000001');
	b0 text := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
	a1 text; b1 text; n bigint := 0; st text; msg text; det text; res text;
BEGIN
	BEGIN
		EXECUTE sql;
		GET DIAGNOSTICS n = ROW_COUNT;
		a1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000001');
		b1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
		RAISE EXCEPTION USING ERRCODE = 'RLS00', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	END;
	IF st = 'RLS00' THEN
		res := 'ok';
	ELSE
		res := CASE WHEN st = '42501' AND msg LIKE 'new row violates row-level security policy%' THEN '42501 rls'
					WHEN st = '42501' AND det LIKE '%"PERMISSION_DENIED"%' THEN '42501 denied'
					WHEN st = '42501' AND msg LIKE 'permission denied for %' THEN '42501 privilege'
					ELSE st || ' ' || msg END;
		a1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000001');
		b1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
	END IF;
	RETURN format('%s rows=%s A=%s B=%s', res, n,
				  CASE WHEN a1 = a0 THEN 'same' ELSE 'changed' END,
				  CASE WHEN b1 = b0 THEN 'same' ELSE 'changed' END);
END
$$;

CREATE FUNCTION pg_temp.rowcount(sql text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE sql;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- null when sql runs, else its SQLSTATE, message, detail and the detail parsed as the envelope.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; env jsonb;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	BEGIN
		env := det::jsonb;
	EXCEPTION WHEN OTHERS THEN
		env := to_jsonb(det);
	END;
	RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', det, 'envelope', env);
END
$$;

CREATE FUNCTION pg_temp.allowed(label text, perm text) RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT CASE label
		WHEN 'sk with' THEN true
		WHEN 'sk without' THEN false
		WHEN 'none' THEN false
		WHEN 'pk' THEN perm IN ('invoice:create', 'invoice:view', 'product:view')
		ELSE (SELECT CASE label WHEN 'OWNER' THEN e.owner WHEN 'ADMIN' THEN e.admin
								WHEN 'MEMBER' THEN e.member WHEN 'VIEWER' THEN e.viewer END
			  FROM expected_caps e WHERE e.permission = perm)
	END
$$;

CREATE FUNCTION pg_temp.describe(label text, perm text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN label = 'sk with' THEN 'sk key with exactly ' || perm
				WHEN label = 'sk without' THEN 'sk key with all but ' || perm
				WHEN label = 'pk' THEN 'pk key'
				WHEN label = 'none' THEN 'no principal'
				WHEN label LIKE 'key %' THEN 'sk key "' || substr(label, 5) || '"'
				WHEN label IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER') THEN label || ' of A'
				ELSE label END
$$;

CREATE TEMP TABLE principals (ord int PRIMARY KEY, label text NOT NULL);
INSERT INTO principals VALUES
	(1, 'OWNER'), (2, 'ADMIN'), (3, 'MEMBER'), (4, 'VIEWER'),
	(5, 'sk with'), (6, 'sk without'), (7, 'pk'), (8, 'none');

------------------------------------------------------------------------------------------------
-- merchants: SELECT merchant:view, UPDATE merchant:edit, DELETE merchant:delete (8 x 3 = 24).
-- UPDATE and DELETE without WHERE, so only their own policy decides; B is never touched.
------------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.merchant_cell(cmd text, perm text, label text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.become(label, perm);
	RETURN CASE cmd
		WHEN 'SELECT' THEN pg_temp.look('merchants', 'id')
		WHEN 'UPDATE' THEN pg_temp.attempt('merchants', 'id', $q$UPDATE billium.merchants SET name = 'rls: renamed'$q$)
		ELSE pg_temp.attempt('merchants', 'id', $q$DELETE FROM billium.merchants$q$) END;
END
$$;

SELECT is(pg_temp.merchant_cell(o.cmd, o.perm, p.label),
		  CASE WHEN o.cmd = 'SELECT' THEN
					CASE WHEN pg_temp.allowed(p.label, o.perm) THEN 'sees A=1 B=0' ELSE 'sees A=0 B=0' END
			   WHEN pg_temp.allowed(p.label, o.perm) THEN 'ok rows=1 A=changed B=same'
			   ELSE 'ok rows=0 A=same B=same' END,
		  format('%s merchants as %s: %s', o.cmd, pg_temp.describe(p.label, o.perm),
				 CASE WHEN pg_temp.allowed(p.label, o.perm) THEN 'allowed (holds ' ELSE 'refused (lacks ' END
				 || o.perm || ')'))
FROM (VALUES (1, 'SELECT', 'merchant:view'), (2, 'UPDATE', 'merchant:edit'), (3, 'DELETE', 'merchant:delete')) AS o(ord, cmd, perm)
CROSS JOIN principals p
ORDER BY o.ord, p.ord;

-- No INSERT: merchants are opened by billium_create_merchant only.
DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT throws_ok($$INSERT INTO billium.merchants (name) VALUES ('rls: direct')$$, '42501', NULL,
	'even the OWNER may not INSERT into merchants directly');

-- The security flags: only the merchant's OWNER in a dashboard session.
SELECT is(pg_temp.rowcount($$UPDATE billium.merchants SET enforce_tfa = true WHERE id = 'a0000000-0000-0000-0000-000000000001'$$),
	1::bigint, 'the OWNER (dashboard session) turns on enforce_tfa');
DO $$ BEGIN PERFORM pg_temp.become('ADMIN', NULL); END $$;
SELECT throws_ok($$UPDATE billium.merchants SET enforce_passkey = true WHERE id = 'a0000000-0000-0000-0000-000000000001'$$,
	'42501', NULL, 'the ADMIN (merchant:edit) may not change a security flag');
SELECT is(pg_temp.rowcount($$UPDATE billium.merchants SET name = 'rls core A renamed' WHERE id = 'a0000000-0000-0000-0000-000000000001'$$),
	1::bigint, 'the ADMIN (merchant:edit) may rename the merchant');
DO $$ BEGIN PERFORM pg_temp.become('key all', NULL); END $$;
SELECT throws_ok($$UPDATE billium.merchants SET enforce_tfa = false WHERE id = 'a0000000-0000-0000-0000-000000000001'$$,
	'42501', NULL, 'an sk key with all 34 permissions, made by the OWNER, may not change a security flag');
SELECT is(pg_temp.rls_count($$SELECT count(*) FROM billium.merchants
	WHERE id = 'a0000000-0000-0000-0000-000000000001' AND enforce_tfa AND NOT enforce_passkey AND name = 'rls core A renamed'$$),
	1::bigint, 'superuser view: enforce_tfa on, enforce_passkey off, the new name');

-- billium_create_merchant: any dashboard session, never a key, never nobody.
DO $$ BEGIN PERFORM pg_temp.become('key all', NULL); END $$;
SELECT throws_ok($$SELECT billium_create_merchant('rls: by a key')$$, '42501', NULL,
	'a key may not open a merchant');
DO $$ BEGIN PERFORM pg_temp.become('none', NULL); END $$;
SELECT throws_ok($$SELECT billium_create_merchant('rls: by nobody')$$, '28000', NULL,
	'with no principal, billium_create_merchant is refused (401)');

------------------------------------------------------------------------------------------------
-- users: a dashboard session sees itself; team:view shows the team.  No direct writes.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE team_a (id uuid);
INSERT INTO team_a SELECT id FROM people
WHERE label IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER', 'admin-narrow', 'team-only', 'keys-only');

DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.users$$, $$SELECT id FROM team_a$$,
	'the OWNER (team:view) sees exactly the users on A''s team');
DO $$ BEGIN PERFORM pg_temp.become('VIEWER', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.users$$, $$SELECT id FROM team_a$$,
	'the VIEWER (team:view) sees exactly the users on A''s team');
DO $$ BEGIN PERFORM pg_temp.become('keys-only', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.users$$, $$VALUES ('b0000000-0000-0000-0000-00000000000b'::uuid)$$,
	'a member of A without team:view sees only its own user row');
DO $$ BEGIN PERFORM pg_temp.become('outsider', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.users$$, $$VALUES ('b0000000-0000-0000-0000-000000000005'::uuid)$$,
	'a user on no team sees only its own user row');
DO $$ BEGIN PERFORM pg_temp.become('sk with', 'team:view'); END $$;
SELECT set_eq($$SELECT id FROM billium.users$$, $$SELECT id FROM team_a$$,
	'an sk key with exactly team:view sees the users on A''s team');
DO $$ BEGIN PERFORM pg_temp.become('sk without', 'team:view'); END $$;
SELECT is_empty($$SELECT id FROM billium.users$$, 'an sk key with all but team:view sees no user');
DO $$ BEGIN PERFORM pg_temp.become('pk', NULL); END $$;
SELECT is_empty($$SELECT id FROM billium.users$$, 'a pk key sees no user');
DO $$ BEGIN PERFORM pg_temp.become('none', NULL); END $$;
SELECT is_empty($$SELECT id FROM billium.users$$, 'no principal: no user');

DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT is(pg_temp.attempt('users', 'id', q), '42501 privilege rows=0 A=same B=same', d)
FROM (VALUES
	(1, $$INSERT INTO billium.users (email) VALUES ('rls@new.test')$$, 'the OWNER may not INSERT a user directly'),
	(2, $$UPDATE billium.users SET email = 'rls@changed.test' WHERE id = 'b0000000-0000-0000-0000-000000000003'$$,
	 'the OWNER may not UPDATE a user of its team directly'),
	(3, $$DELETE FROM billium.users WHERE id = 'b0000000-0000-0000-0000-000000000003'$$,
	 'the OWNER may not DELETE a user of its team directly')) AS v(o, q, d)
ORDER BY o;

------------------------------------------------------------------------------------------------
-- team_members: SELECT team:view (8 principals), then invite, change a role, remove.
------------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.look_as(label text, perm text, tbl text, col text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.become(label, perm);
	RETURN pg_temp.look(tbl, col);
END
$$;
CREATE FUNCTION pg_temp.team_cell(label text, perm text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.become(label, perm);
	RETURN pg_temp.attempt('team_members', 'merchant_id', sql);
END
$$;

SELECT is(pg_temp.look_as(p.label, 'team:view', 'team_members', 'merchant_id'),
		  CASE WHEN pg_temp.allowed(p.label, 'team:view') THEN 'sees A=7 B=0' ELSE 'sees A=0 B=0' END,
		  format('SELECT team_members as %s: %s', pg_temp.describe(p.label, 'team:view'),
				 CASE WHEN pg_temp.allowed(p.label, 'team:view') THEN 'A''s 7 members' ELSE 'nothing' END))
FROM principals p
ORDER BY p.ord;

-- Invite the invitee as a VIEWER.  A refusal comes from the policy (no team:invite: 'rls') or,
-- first, from the guard (the VIEWER cap is not within the caller's own: 'denied'); both 42501.
SELECT is(regexp_replace(pg_temp.team_cell(v.label, 'team:invite',
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'VIEWER')$$),
			'^42501 (rls|denied) ', '42501 refused '),
		  v.expected, format('invite a VIEWER as %s: %s', pg_temp.describe(v.label, 'team:invite'), v.expected))
FROM (VALUES
	(1, 'OWNER', 'ok rows=1 A=changed B=same'),
	(2, 'ADMIN', 'ok rows=1 A=changed B=same'),
	(3, 'MEMBER', '42501 refused rows=0 A=same B=same'),
	(4, 'VIEWER', '42501 refused rows=0 A=same B=same'),
	(5, 'key invite', 'ok rows=1 A=changed B=same'),
	(6, 'sk without', '42501 refused rows=0 A=same B=same'),
	(7, 'pk', '42501 refused rows=0 A=same B=same'),
	(8, 'none', '42501 refused rows=0 A=same B=same')) AS v(o, label, expected)
ORDER BY v.o;
-- The VIEWER holds the VIEWER cap, so the guard lets it through and the policy refuses it.
SELECT is(pg_temp.team_cell('VIEWER', NULL,
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'VIEWER')$$),
		  '42501 rls rows=0 A=same B=same', 'the VIEWER''s invite is refused by the policy: new row violates row-level security policy');

-- Demote the MEMBER to VIEWER (WHERE reads the row: the SELECT policy applies too).  Refused:
-- no row is affected, silently.
SELECT is(pg_temp.team_cell(v.label, 'team:manage_roles',
			$$UPDATE billium.team_members SET role = 'VIEWER'
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000003'$$),
		  v.expected, format('change the MEMBER''s role as %s: %s', pg_temp.describe(v.label, 'team:manage_roles'), v.expected))
FROM (VALUES
	(1, 'OWNER', 'ok rows=1 A=changed B=same'),
	(2, 'ADMIN', 'ok rows=1 A=changed B=same'),
	(3, 'MEMBER', 'ok rows=0 A=same B=same'),
	(4, 'VIEWER', 'ok rows=0 A=same B=same'),
	(5, 'key manage', 'ok rows=1 A=changed B=same'),
	(6, 'sk without', 'ok rows=0 A=same B=same'),
	(7, 'pk', 'ok rows=0 A=same B=same'),
	(8, 'none', 'ok rows=0 A=same B=same')) AS v(o, label, expected)
ORDER BY v.o;

-- Remove the VIEWER from the team.
SELECT is(pg_temp.team_cell(v.label, 'team:remove',
			$$DELETE FROM billium.team_members
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000004'$$),
		  v.expected, format('remove the VIEWER as %s: %s', pg_temp.describe(v.label, 'team:remove'), v.expected))
FROM (VALUES
	(1, 'OWNER', 'ok rows=1 A=changed B=same'),
	(2, 'ADMIN', 'ok rows=1 A=changed B=same'),
	(3, 'MEMBER', 'ok rows=0 A=same B=same'),
	(4, 'VIEWER', 'ok rows=0 A=same B=same'),
	(5, 'key remove', 'ok rows=1 A=changed B=same'),
	(6, 'sk without', 'ok rows=0 A=same B=same'),
	(7, 'pk', 'ok rows=0 A=same B=same'),
	(8, 'none', 'ok rows=0 A=same B=same')) AS v(o, label, expected)
ORDER BY v.o;

-- Nobody grants above their own; exactly one OWNER.
SELECT is(pg_temp.team_cell('ADMIN', NULL,
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'OWNER')$$),
		  '42501 denied rows=0 A=same B=same', 'the ADMIN may not add a second OWNER');
SELECT is(pg_temp.team_cell('ADMIN', NULL,
			$$UPDATE billium.team_members SET role = 'OWNER'
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000003'$$),
		  '42501 denied rows=0 A=same B=same', 'the ADMIN may not make the MEMBER an OWNER');
SELECT is(pg_temp.team_cell('ADMIN', NULL,
			$$DELETE FROM billium.team_members
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000001'$$),
		  '42501 denied rows=0 A=same B=same', 'the ADMIN (team:remove) may not remove the OWNER');
SELECT is(pg_temp.team_cell('OWNER', NULL,
			$$DELETE FROM billium.team_members
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000001'$$),
		  '42501 denied rows=0 A=same B=same', 'the OWNER may not remove itself');
SELECT is(pg_temp.team_cell('OWNER', NULL,
			$$UPDATE billium.team_members SET role = 'ADMIN'
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000001'$$),
		  '42501 denied rows=0 A=same B=same', 'the OWNER may not demote itself');
SELECT is(pg_temp.team_cell('admin-narrow', NULL,
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'ADMIN')$$),
		  '42501 denied rows=0 A=same B=same', 'an ADMIN whose grant lacks webhook:delete may not make a full ADMIN');
SELECT ok(pg_temp.refusal($$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'ADMIN')$$)
		  @> '{"sqlstate": "42501", "envelope": {"code": "PERMISSION_DENIED", "excess": ["webhook:delete"]}}',
	'the refusal is PERMISSION_DENIED with "excess": ["webhook:delete"]');
SELECT is(pg_temp.team_cell('admin-narrow', NULL,
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'MEMBER')$$),
		  'ok rows=1 A=changed B=same', 'but it may invite a MEMBER (the MEMBER cap lies within its grant)');
SELECT is(pg_temp.team_cell('ADMIN', NULL,
			$$UPDATE billium.team_members SET permissions = '{}'
			  WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000003'$$),
		  'ok rows=1 A=changed B=same', 'the ADMIN may narrow the MEMBER''s grant');
SELECT is(pg_temp.team_cell('ADMIN', NULL,
			$$INSERT INTO billium.team_members (merchant_id, user_id, role)
			  VALUES ('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000008', 'VIEWER')$$),
		  '42501 denied rows=0 A=same B=same', 'the ADMIN of A may not invite anyone to B''s team');

------------------------------------------------------------------------------------------------
-- api_keys: readable with api_key:view, every column but key_hash; no direct writes.
------------------------------------------------------------------------------------------------

DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT throws_ok($$SELECT key_hash FROM billium.api_keys$$, '42501', NULL,
	'the OWNER may not read key_hash (permission denied)');
SELECT throws_ok($$SELECT * FROM billium.api_keys$$, '42501', NULL,
	'SELECT * on api_keys is refused too, since it names key_hash');
SELECT set_eq($$SELECT id FROM billium.api_keys$$,
	$$SELECT id FROM keys WHERE mode <> 'B all'$$,
	'the OWNER sees exactly A''s keys (not B''s)');
SELECT is((SELECT count(*) FROM billium.api_keys WHERE hint LIKE 'sk_...%' AND name <> '' AND permissions IS NOT NULL
			AND created_by = 'b0000000-0000-0000-0000-000000000001'),
	20::bigint, 'every column but key_hash is readable: id, name, hint, permissions, created_by, ...');
SELECT is(pg_temp.look_as(p.label, 'api_key:view', 'api_keys', 'merchant_id'),
		  CASE WHEN pg_temp.allowed(p.label, 'api_key:view') THEN 'sees A=21 B=0' ELSE 'sees A=0 B=0' END,
		  format('SELECT api_keys as %s: %s', pg_temp.describe(p.label, 'api_key:view'),
				 CASE WHEN pg_temp.allowed(p.label, 'api_key:view') THEN 'A''s 21 keys' ELSE 'nothing' END))
FROM principals p
ORDER BY p.ord;
DO $$ BEGIN PERFORM pg_temp.become('key all', NULL); END $$;
SELECT throws_ok($$SELECT key_hash FROM billium.api_keys$$, '42501', NULL,
	'an sk key with every permission may not read key_hash either');
SELECT is(pg_temp.attempt('api_keys', 'merchant_id', q), '42501 privilege rows=0 A=same B=same', d)
FROM (VALUES
	(1, $$UPDATE billium.api_keys SET name = 'rls: renamed'$$, 'no direct UPDATE of api_keys, even with every permission'),
	(2, $$DELETE FROM billium.api_keys$$, 'no direct DELETE of api_keys, even with every permission'),
	(3, $$INSERT INTO billium.api_keys (merchant_id, key_type, hint, key_hash, permissions, created_by)
		  VALUES ('a0000000-0000-0000-0000-000000000001', 'sk', 'sk_...xxxx', sha256('x'), '{*}', 'b0000000-0000-0000-0000-000000000001')$$,
	 'no direct INSERT into api_keys, even with every permission')) AS v(o, q, d)
ORDER BY o;

------------------------------------------------------------------------------------------------
-- audit_log: api_key events need api_key:view, team and security events team:view; append-only.
------------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.audit_seen(label text, perm text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	PERFORM pg_temp.become(label, perm);
	SELECT coalesce(string_agg(c, ',' ORDER BY c), '-') INTO r
	FROM (SELECT DISTINCT CASE WHEN merchant_id = 'a0000000-0000-0000-0000-000000000001'
							   THEN category ELSE 'OTHER MERCHANT' END AS c
		  FROM billium.audit_log) s;
	RETURN r;
END
$$;

SELECT is(pg_temp.audit_seen(v.label, v.perm), v.expected,
		  format('audit_log as %s: %s', pg_temp.describe(v.label, v.perm), v.expected))
FROM (VALUES
	(1, 'OWNER', NULL, 'api_key,security,team'),
	(2, 'ADMIN', NULL, 'api_key,security,team'),
	(3, 'MEMBER', NULL, 'api_key,security,team'),
	(4, 'VIEWER', NULL, 'api_key,security,team'),
	(5, 'team-only', NULL, 'security,team'),
	(6, 'keys-only', NULL, 'api_key'),
	(7, 'sk with', 'api_key:view', 'api_key'),
	(8, 'sk without', 'api_key:view', 'security,team'),
	(9, 'sk with', 'team:view', 'security,team'),
	(10, 'sk without', 'team:view', 'api_key'),
	(11, 'pk', NULL, '-'),
	(12, 'none', NULL, '-'),
	(13, 'outsider', NULL, '-')) AS v(o, label, perm, expected)
ORDER BY v.o;

DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT is(pg_temp.attempt('audit_log', 'merchant_id', q), '42501 privilege rows=0 A=same B=same', d)
FROM (VALUES
	(1, $$UPDATE billium.audit_log SET action = 'rls: rewritten'$$, 'the OWNER may not UPDATE the audit trail'),
	(2, $$DELETE FROM billium.audit_log$$, 'the OWNER may not DELETE from the audit trail'),
	(3, $$INSERT INTO billium.audit_log (merchant_id, category, action) VALUES ('a0000000-0000-0000-0000-000000000001', 'team', 'forged')$$,
	 'the OWNER may not INSERT into the audit trail')) AS v(o, q, d)
ORDER BY o;
SELECT is(pg_temp.rls_count($$SELECT count(*) FROM billium.audit_log
	WHERE coalesce(before, '{}') ? 'key_hash' OR coalesce(after, '{}') ? 'key_hash'
	   OR coalesce(before::text, '') ~ '\\x[0-9a-f]{64}' OR coalesce(after::text, '') ~ '\\x[0-9a-f]{64}'$$),
	0::bigint, 'no audit row carries a key hash');
SELECT is(pg_temp.rls_count($$SELECT count(*) FROM billium.audit_log
	WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND category = 'security' AND action = 'merchants.update_security'
	  AND principal_kind = 'user' AND user_id = 'b0000000-0000-0000-0000-000000000001'$$),
	1::bigint, 'the OWNER''s change of enforce_tfa is in the audit trail, with the OWNER as its principal');

------------------------------------------------------------------------------------------------
-- billium_create_merchant and billium_transfer_ownership (last: they change the teams).
------------------------------------------------------------------------------------------------

DO $$ BEGIN PERFORM pg_temp.become('outsider', NULL); END $$;
CREATE TEMP TABLE opened AS SELECT billium_create_merchant('rls: the outsider''s shop') AS id;
SELECT set_eq($$SELECT id FROM billium.merchants$$, $$SELECT id FROM opened$$,
	'the outsider opened a merchant and sees it, and only it');
SELECT results_eq($$SELECT user_id, role FROM billium.team_members$$,
	$$VALUES ('b0000000-0000-0000-0000-000000000005'::uuid, 'OWNER'::text)$$,
	'the outsider is the OWNER of its new merchant''s team');
SELECT is(billium_principal_permissions((SELECT id FROM opened)), billium_permset_from_names(ARRAY['*']),
	'and holds all 34 permissions on it');

DO $$ BEGIN PERFORM pg_temp.become('ADMIN', NULL); END $$;
SELECT throws_ok($$SELECT billium_transfer_ownership('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002')$$,
	'42501', NULL, 'the ADMIN may not transfer ownership (to itself)');
DO $$ BEGIN PERFORM pg_temp.become('key all', NULL); END $$;
SELECT throws_ok($$SELECT billium_transfer_ownership('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002')$$,
	'42501', NULL, 'an sk key with every permission may not transfer ownership');
DO $$ BEGIN PERFORM pg_temp.become('OWNER of B', NULL); END $$;
SELECT throws_ok($$SELECT billium_transfer_ownership('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002')$$,
	'42501', NULL, 'the OWNER of B may not transfer A');
DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT lives_ok($$SELECT billium_transfer_ownership('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002')$$,
	'the OWNER transfers A to the ADMIN');
SELECT results_eq($$SELECT user_id, role FROM billium.team_members
					WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND role IN ('OWNER', 'ADMIN') ORDER BY user_id$$,
	$$VALUES ('b0000000-0000-0000-0000-000000000001'::uuid, 'ADMIN'::text),
			 ('b0000000-0000-0000-0000-000000000002'::uuid, 'OWNER'::text),
			 ('b0000000-0000-0000-0000-000000000009'::uuid, 'ADMIN'::text)$$,
	'the old OWNER is now an ADMIN, the new one the only OWNER');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000001'), billium_role_cap('ADMIN'),
	'the old OWNER holds the ADMIN cap now');
SELECT throws_ok($$SELECT billium_transfer_ownership('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001')$$,
	'42501', NULL, 'the old OWNER may not take it back');
SELECT is_empty($$SELECT * FROM billium.merchant_billing$$,
	'the old OWNER, now ADMIN, no longer reads billing (merchant:billing)');
DO $$ BEGIN PERFORM pg_temp.become('ADMIN', NULL); END $$;
SELECT is(pg_temp.attempt('merchants', 'id', $$DELETE FROM billium.merchants$$), 'ok rows=1 A=changed B=same',
	'the new OWNER may delete A (merchant:delete)');

SELECT * FROM finish();
ROLLBACK;
