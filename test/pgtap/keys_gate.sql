-- API keys and the request gate: every permission against every action for sk keys, every
-- action for a pk key, the caps on creating and updating keys, a key's inheritance from its
-- creator (demotion, removal), revocation, expiry and rolling, the 401/403 envelope, act_as, and
-- where the transaction's principal comes from.
--
-- pgTAP runs the whole file in one transaction, so the principal is switched with
-- billium_act_as / billium_authenticate / SET LOCAL billium.api_key (each replaces it), never by
-- ending a transaction.  The parts that need several transactions (a revocation seen by another
-- session, a roll with no grace refused from the next transaction) are in
-- test/specs/key_revoke.spec.
BEGIN;
SELECT plan(219);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  Two merchants; on merchant one an OWNER, an ADMIN, a MEMBER and
-- a VIEWER, plus two more ADMINs kept for the demotion tests; an outsider on no team; the OWNER
-- of merchant two.  One key is inserted directly with a known plaintext (a fixed well-formed
-- key, its checksum computed with Python's zlib.crc32) so that the principal can be set from
-- billium.api_key and request.headers before anybody has acted.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a0000000-0000-0000-0000-000000000001', 'tap merchant one'),
	('a0000000-0000-0000-0000-000000000002', 'tap merchant two');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000002', 'admin@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000003', 'member@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000004', 'viewer@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000005', 'outsider@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000006', 'owner2@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000007', 'admin-demoted@keys-gate.test'),
	('b0000000-0000-0000-0000-000000000008', 'admin-explained@keys-gate.test');
-- permissions omitted: the trigger fills in the role's cap.
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', 'ADMIN'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003', 'MEMBER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'VIEWER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000007', 'ADMIN'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'ADMIN');
INSERT INTO billium.api_keys (id, merchant_id, key_type, name, hint, key_hash, permissions, created_by)
SELECT 'c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'sk',
	   'fixed', 'sk_...' || right(k, 4), sha256(convert_to(k, 'UTF8')), '{invoice:*}',
	   'b0000000-0000-0000-0000-000000000001'
FROM (VALUES ('sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc')) AS v(k);

CREATE ROLE tap_app LOGIN;
GRANT billium_api, billium_admin TO tap_app;
CREATE ROLE tap_plain LOGIN;
GRANT billium_api TO tap_plain;

SET LOCAL ROLE tap_app;
SET LOCAL search_path = public, billium;

-- Helpers.  refusal(sql): null when sql runs, else its SQLSTATE, message, detail and the detail
-- parsed as the JSON envelope.  outcome(sql): 'ok', or 'SQLSTATE status CODE'.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text; env jsonb;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
							hnt = PG_EXCEPTION_HINT;
	BEGIN
		env := det::jsonb;
	EXCEPTION WHEN OTHERS THEN
		env := to_jsonb(det);
	END;
	RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', det, 'hint', hnt,
							  'envelope', env);
END
$$;
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(r->>'sqlstate' || ' ' || coalesce(r->'envelope'->>'status', '-') || ' '
					|| coalesce(r->'envelope'->>'code', '-'), 'ok')
	FROM (SELECT pg_temp.refusal(sql) AS r) s
$$;
-- Every action of billium.actions on the merchant, as the current principal.
CREATE FUNCTION pg_temp.gate(m uuid) RETURNS TABLE (action text, outcome text, required text)
	LANGUAGE plpgsql AS $$
DECLARE
	a record; r jsonb;
BEGIN
	FOR a IN SELECT name FROM billium.actions ORDER BY name LOOP
		r := pg_temp.refusal(format('SELECT billium_authorize(%L, %L)', a.name, m));
		action := a.name;
		outcome := CASE WHEN r IS NULL THEN 'allowed'
						ELSE coalesce(r->'envelope'->>'code', r->>'sqlstate') END;
		required := r->'envelope'->>'required';
		RETURN NEXT;
	END LOOP;
END
$$;
CREATE FUNCTION pg_temp.gate_key(api_key text, m uuid)
	RETURNS TABLE (action text, outcome text, required text) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM billium_authenticate(api_key);
	RETURN QUERY SELECT * FROM pg_temp.gate(m);
END
$$;
-- Keys made by the tests, by label.
CREATE TEMP TABLE keys (label text PRIMARY KEY, id uuid NOT NULL, api_key text NOT NULL);
CREATE FUNCTION pg_temp.k(label text) RETURNS text LANGUAGE sql STABLE AS
	$$ SELECT api_key FROM keys WHERE keys.label = k.label $$;
CREATE FUNCTION pg_temp.kid(label text) RETURNS uuid LANGUAGE sql STABLE AS
	$$ SELECT id FROM keys WHERE keys.label = kid.label $$;

------------------------------------------------------------------------------------------------
-- (i) No caller yet: no principal, and the missing key is a 401.  Then the principal from an
-- empty billium.api_key (none), from request.headers (PostgREST) and from billium.api_key.
------------------------------------------------------------------------------------------------

SELECT ok(billium_current_principal() IS NULL, 'no caller: billium_current_principal() is null');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000001'), '{}',
	'no caller: billium_principal_permissions is {}');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')$$),
	'28000 401 API_KEY_MISSING', 'no caller: authorize raises 401 API_KEY_MISSING');
SELECT throws_ok($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')$$,
	'28000', NULL, 'no caller: authorize raises SQLSTATE 28000');

SET LOCAL billium.api_key = '';
SELECT ok(billium_current_principal() IS NULL, 'an empty billium.api_key counts as no key');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')$$),
	'28000 401 API_KEY_MISSING', 'an empty billium.api_key: authorize raises API_KEY_MISSING');

-- PostgREST sets request.headers before a transaction's first statement.  Here the principal
-- was already resolved (to nobody) in this transaction and is kept for it; setting
-- billium.api_key, even to empty (no key), has it resolved again, and then the header counts.
SELECT ok(set_config('request.headers',
	'{"accept":"application/json","x-api-key":"sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc"}',
	true) IS NOT NULL, 'request.headers carries an x-api-key, as PostgREST sets it');
SET LOCAL billium.api_key = '';
SELECT is(billium_current_principal(),
	ROW('api_key', 'a0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001', 'sk',
		'b0000000-0000-0000-0000-000000000001', '{invoice:*}')::billium_principal,
	'request.headers x-api-key makes the key the principal');
SELECT is((billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')).key_id,
	'c0000000-0000-0000-0000-000000000001'::uuid, 'the request.headers key passes the gate for invoices.list');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000004')).kind, 'user', 'act_as replaces it');
SET LOCAL billium.api_key = 'sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc';
SELECT is((billium_current_principal()).key_id, 'c0000000-0000-0000-0000-000000000001'::uuid,
	'SET LOCAL billium.api_key replaces the principal with the key');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000001'), '{invoice:*}',
	'a key principal: billium_principal_permissions on its merchant is its effective set');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000002'), '{}',
	'a key principal: billium_principal_permissions on another merchant is {}');

-- A user principal.
SELECT is(billium_act_as('b0000000-0000-0000-0000-000000000003'),
	ROW('user', NULL, NULL, NULL, 'b0000000-0000-0000-0000-000000000003', NULL)::billium_principal,
	'act_as returns a user principal (no merchant, key or permissions of its own)');
SELECT is(billium_current_principal(), billium_act_as('b0000000-0000-0000-0000-000000000003'),
	'billium_current_principal() is the acting user');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000001'), billium_role_cap('MEMBER'),
	'a user principal: billium_principal_permissions is the team grant');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000002'), '{}',
	'a user principal: billium_principal_permissions on a merchant whose team it is not on is {}');

------------------------------------------------------------------------------------------------
-- (h) act_as is for superusers and billium_admin only.
------------------------------------------------------------------------------------------------

SET LOCAL ROLE tap_plain;
SELECT throws_ok($$SELECT billium_act_as('b0000000-0000-0000-0000-000000000001')$$, '42501', NULL,
	'act_as is refused to a role without billium_admin');
RESET ROLE;
-- Even with EXECUTE granted directly, the function itself checks for billium_admin.
GRANT EXECUTE ON FUNCTION billium.billium_act_as(uuid) TO tap_plain;
SET LOCAL ROLE tap_plain;
SELECT throws_ok($$SELECT billium_act_as('b0000000-0000-0000-0000-000000000001')$$, '42501', NULL,
	'act_as is refused to a role without billium_admin even with EXECUTE granted to it');
SET LOCAL ROLE tap_app;

------------------------------------------------------------------------------------------------
-- (a) Each of the 34 permissions, alone on an sk key made by the OWNER, opens exactly the
-- actions of billium.actions that name it.  The keys are written by the billium_test_key
-- fixture: since 0.6.0 billium_create_api_key refuses a grant like {invoice:edit} that writes
-- in a domain without its view (test/pgtap/grant_shape.sql), and the gate still answers such
-- keys from before 0.6.0.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of merchant one');
CREATE TEMP TABLE single_keys AS
SELECT p.name AS permission, p."bit", k.api_key
FROM billium.permissions p,
	 LATERAL billium_test_key('a0000000-0000-0000-0000-000000000001', 'sk',
							  billium_permset_from_names(ARRAY[p.name])) AS k(api_key);
SELECT is((SELECT count(*) FROM single_keys WHERE api_key ~ '^sk_[0-9A-Za-z]{96}$'), 34::bigint,
	'the OWNER made 34 single-permission sk keys, each sk_ and 96 base62 characters');
SELECT is_empty($$
	SELECT permission FROM single_keys
	WHERE (billium_key_verify(api_key)).permissions <> billium_permset_from_names(ARRAY[permission])$$,
	'each single-permission key verifies with exactly its permission');

CREATE TEMP TABLE single_gate AS
SELECT s.permission, g.action, g.outcome, g.required
FROM (SELECT * FROM single_keys ORDER BY "bit") s,
	 LATERAL pg_temp.gate_key(s.api_key, 'a0000000-0000-0000-0000-000000000001') g;

SELECT is(
	(SELECT coalesce(array_agg(g.action ORDER BY g.action), '{}') FROM single_gate g
	 WHERE g.permission = p.name AND g.outcome = 'allowed'),
	(SELECT array_agg(a.name ORDER BY a.name) FROM billium.actions a WHERE a.permission = p.name),
	format('an sk key holding only %s opens exactly its actions', p.name))
FROM billium.permissions p ORDER BY p."bit";

SELECT is((SELECT count(*) FROM single_gate), 34::bigint * 47, '34 keys tried against 47 actions');
SELECT is((SELECT count(*) FROM single_gate WHERE outcome = 'allowed'), 46::bigint,
	'46 (permission, action) pairs allowed: each action ruled by a permission opened by exactly it');
-- team.transfer_ownership is ruled by the OWNER role, which no key holds: refused to every key.
SELECT is((SELECT array_agg(DISTINCT g.outcome) FROM single_gate g WHERE g.action = 'team.transfer_ownership'),
	ARRAY['PERMISSION_DENIED'], 'the action ruled by a role is refused to every single-permission key');
SELECT is_empty($$
	SELECT g.permission, g.action, g.outcome, g.required
	FROM single_gate g JOIN billium.actions a ON a.name = g.action
	WHERE g.outcome <> 'allowed' AND (g.outcome <> 'PERMISSION_DENIED' OR g.required IS DISTINCT FROM a.permission)$$,
	'every refusal of a single-permission sk key is PERMISSION_DENIED naming the action''s permission');

------------------------------------------------------------------------------------------------
-- (b) A pk key with the whole pk cap: only invoices.create, invoices.retrieve and
-- products.retrieve; every other action is SECRET_KEY_REQUIRED (even those whose permission the
-- key holds, like invoices.list).
------------------------------------------------------------------------------------------------

SELECT set_eq($$SELECT name FROM billium.actions WHERE NOT secret_only$$,
	$$VALUES ('invoices.create'), ('invoices.retrieve'), ('products.retrieve')$$,
	'billium.actions opens exactly invoices.create, invoices.retrieve, products.retrieve to pk keys');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys
SELECT 'pk full', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk',
							'{invoice:create,invoice:view,product:view}', 'pk full');
INSERT INTO keys
SELECT 'pk product', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk', '{product:view}', 'pk product');
SELECT matches(pg_temp.k('pk full'), '^pk_[0-9A-Za-z]{96}$', 'a pk key is pk_ and 96 base62 characters');

SELECT is(g.outcome,
	CASE WHEN g.action IN ('invoices.create', 'invoices.retrieve', 'products.retrieve') THEN 'allowed'
		 ELSE 'SECRET_KEY_REQUIRED' END,
	format('pk key with the full pk cap: %s is %s', g.action,
		   CASE WHEN g.action IN ('invoices.create', 'invoices.retrieve', 'products.retrieve')
				THEN 'allowed' ELSE 'SECRET_KEY_REQUIRED' END))
FROM pg_temp.gate_key(pg_temp.k('pk full'), 'a0000000-0000-0000-0000-000000000001') g
ORDER BY g.action;

SELECT is((billium_authenticate(pg_temp.k('pk full'))).key_type, 'pk', 'authenticate as the pk key');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.cancel', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"SECRET_KEY_REQUIRED","action":"invoices.cancel"}}',
	'pk on invoices.cancel: 42501 and the envelope {status 403, SECRET_KEY_REQUIRED, action invoices.cancel}');
SELECT is((billium_authenticate(pg_temp.k('pk product'))).permissions, '{product:view}',
	'authenticate as a pk key holding only product:view');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.create', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","required":"invoice:create","action":"invoices.create"}}',
	'a pk key without invoice:create on invoices.create: PERMISSION_DENIED requiring invoice:create');

------------------------------------------------------------------------------------------------
-- (c) Creating keys: within the creator's own permissions, the key type's cap, and only with
-- api_key:create on a secret key or a user.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys
SELECT 'owner all', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'owner all');
SELECT is(billium_key_verify(pg_temp.k('owner all')),
	ROW(pg_temp.kid('owner all'), 'a0000000-0000-0000-0000-000000000001', 'sk',
		'b0000000-0000-0000-0000-000000000001', '{*}')::billium_key_principal,
	'the OWNER creates an sk key with all 34 permissions; verify returns it whole');
RESET ROLE;
SELECT is((SELECT created_by FROM billium.api_keys WHERE id = pg_temp.kid('owner all')),
	'b0000000-0000-0000-0000-000000000001'::uuid, 'its created_by is the OWNER');
SELECT is((SELECT key_hash FROM billium.api_keys WHERE id = pg_temp.kid('owner all')),
	sha256(convert_to(pg_temp.k('owner all'), 'UTF8')), 'the table holds the key''s SHA-256, not the key');
SET LOCAL ROLE tap_app;

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
INSERT INTO keys
SELECT 'admin cap', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', billium_role_cap('ADMIN'), 'admin cap');
SELECT is((billium_key_verify(pg_temp.k('admin cap'))).permissions, billium_role_cap('ADMIN'),
	'the ADMIN creates an sk key with the whole ADMIN cap');
SELECT is(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*,merchant:billing}', 'x')$$)
		  #> '{envelope,excess}',
	'["merchant:billing"]'::jsonb, 'the ADMIN asking for merchant:billing: the envelope''s excess is ["merchant:billing"]');
SELECT is(pg_temp.outcome($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*,merchant:billing}', 'x')$$),
	'42501 403 PERMISSION_DENIED', 'the ADMIN asking for merchant:billing: 42501, 403 PERMISSION_DENIED');
SELECT is(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'x')$$)
		  #> '{envelope,excess}',
	'["merchant:delete","merchant:billing"]'::jsonb, 'the ADMIN asking for {*}: excess names merchant:delete and merchant:billing');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000003')).kind, 'user', 'act as the MEMBER');
SELECT ok(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","required":"api_key:create"}}',
	'the MEMBER may not create keys: 403 PERMISSION_DENIED requiring api_key:create');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000004')).kind, 'user', 'act as the VIEWER');
SELECT ok(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk', '{invoice:view}', 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","required":"api_key:create"}}',
	'the VIEWER may not create keys: 403 PERMISSION_DENIED requiring api_key:create');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT ok(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk', '{invoice:view,invoice:edit}', 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","excess":["invoice:edit"]}}',
	'a pk key with invoice:edit: 403 PERMISSION_DENIED naming invoice:edit as the excess');
SELECT throws_ok($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'rk', '{invoice:view}', 'x')$$,
	'22023', NULL, 'an unknown key type raises 22023');
SELECT is(pg_temp.outcome($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000002', 'sk', '{invoice:view}', 'x')$$),
	'42501 403 NOT_A_TEAM_MEMBER', 'the OWNER of merchant one may not create keys on merchant two: NOT_A_TEAM_MEMBER');

-- A key creating a key: within the parent key's own permissions; created_by is the parent's creator.
INSERT INTO keys
SELECT 'parent', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*,api_key:create}', 'parent');
SELECT is((billium_authenticate(pg_temp.k('parent'))).permissions, '{invoice:*,api_key:create}',
	'authenticate as a key holding invoice:* and api_key:create');
INSERT INTO keys
SELECT 'child', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'child');
SELECT is(billium_key_verify(pg_temp.k('child')),
	ROW(pg_temp.kid('child'), 'a0000000-0000-0000-0000-000000000001', 'sk',
		'b0000000-0000-0000-0000-000000000001', '{invoice:view}')::billium_key_principal,
	'a key creates a key; its created_by is the creating key''s creator (the OWNER)');
RESET ROLE;
SELECT is((SELECT created_by_key FROM billium.api_keys WHERE id = pg_temp.kid('child')), pg_temp.kid('parent'),
	'the child''s created_by_key is the parent key');
SET LOCAL ROLE tap_app;
SELECT ok(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view,webhook:view}', 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","excess":["webhook:view"]}}',
	'a key may not create a key beyond its own permissions: excess ["webhook:view"]');
SELECT is((billium_authenticate(pg_temp.k('pk full'))).kind, 'api_key', 'authenticate as the full pk key');
SELECT ok(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk', '{invoice:view}', 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"SECRET_KEY_REQUIRED"}}',
	'a pk key may not create keys: SECRET_KEY_REQUIRED');

-- Updating a key: api_key:edit, and the same caps as creating.
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT lives_ok($$SELECT billium_update_api_key(pg_temp.kid('owner all'), '{invoice:view,report:view}', 'narrowed')$$,
	'the OWNER narrows a key');
SELECT is((billium_key_verify(pg_temp.k('owner all'))).permissions, '{invoice:view,report:view}',
	'the narrowed key verifies with its new permissions');
SELECT lives_ok($$SELECT billium_update_api_key(pg_temp.kid('owner all'), NULL, 'renamed')$$,
	'the OWNER renames a key, keeping its permissions');
RESET ROLE;
SELECT is((SELECT name || ' ' || permissions::text FROM billium.api_keys WHERE id = pg_temp.kid('owner all')),
	'renamed {invoice:view,report:view}', 'the key has its new name and kept its permissions');
SET LOCAL ROLE tap_app;
SELECT ok(pg_temp.refusal($$SELECT billium_update_api_key(pg_temp.kid('pk full'), '{invoice:view,invoice:edit}', NULL)$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","excess":["invoice:edit"]}}',
	'a pk key may not be updated to hold invoice:edit');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
SELECT ok(pg_temp.refusal($$SELECT billium_update_api_key(pg_temp.kid('admin cap'), '{merchant:billing}', NULL)$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","excess":["merchant:billing"]}}',
	'the ADMIN may not update a key to hold merchant:billing');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000003')).kind, 'user', 'act as the MEMBER');
SELECT ok(pg_temp.refusal($$SELECT billium_update_api_key(pg_temp.kid('admin cap'), NULL, 'x')$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","required":"api_key:edit"}}',
	'the MEMBER may not update keys: PERMISSION_DENIED requiring api_key:edit');

------------------------------------------------------------------------------------------------
-- (d) A key inherits its creator's standing.  Demoted to VIEWER: the key drops at once to the
-- VIEWER-capped set.  Removed from the team: the key verifies with {} and opens nothing.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000007')).kind, 'user', 'act as the second ADMIN');
INSERT INTO keys
SELECT 'demoted', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk',
							'{*}'::billium_permset - '{merchant:billing,merchant:delete}', 'demoted');
SELECT is((billium_key_verify(pg_temp.k('demoted'))).permissions, billium_role_cap('ADMIN'),
	'an ADMIN''s key with {*} minus billing and delete holds the 32 ADMIN permissions');
RESET ROLE;
UPDATE billium.team_members SET role = 'VIEWER'
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000007';
SELECT is((SELECT permissions FROM billium.team_members
		   WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000007'),
	billium_role_cap('VIEWER'), 'demoting a full ADMIN to VIEWER re-caps the grant to the VIEWER cap');
SET LOCAL ROLE tap_app;
SELECT is((billium_key_verify(pg_temp.k('demoted'))).permissions, billium_role_cap('VIEWER'),
	'the creator demoted to VIEWER: the key verifies with the VIEWER-capped set');
SELECT is((billium_authenticate(pg_temp.k('demoted'))).permissions, billium_role_cap('VIEWER'),
	'authenticating the key gives the VIEWER-capped set');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')$$),
	'ok', 'the demoted creator''s key may still list invoices');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.update', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"envelope":{"code":"PERMISSION_DENIED","required":"invoice:edit"}}',
	'the demoted creator''s key may no longer update invoices: PERMISSION_DENIED requiring invoice:edit');

RESET ROLE;
DELETE FROM billium.team_members
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000007';
SET LOCAL ROLE tap_app;
SELECT is((billium_key_verify(pg_temp.k('demoted'))).permissions, '{}',
	'the creator removed from the team: the key verifies with {}');
SELECT is((billium_authenticate(pg_temp.k('demoted'))).permissions, '{}',
	'authenticating the orphaned key gives {}');
SELECT is(billium_principal_permissions('a0000000-0000-0000-0000-000000000001'), '{}',
	'the orphaned key may do nothing on its merchant');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.retrieve', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","required":"invoice:view"}}',
	'the orphaned key on invoices.retrieve: 403 PERMISSION_DENIED requiring invoice:view');

------------------------------------------------------------------------------------------------
-- (g) explain_key for a demoted creator: an ADMIN's key, the ADMIN's grant narrowed (no
-- invoice:edit) and then demoted to MEMBER.  Each step and what it removed.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000008')).kind, 'user', 'act as the third ADMIN');
INSERT INTO keys
SELECT 'explained', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk',
							'{invoice:*,product:view,webhook:create,report:view}', 'explained');
RESET ROLE;
UPDATE billium.team_members SET permissions = billium_role_cap('ADMIN') - '{invoice:edit}'
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000008';
UPDATE billium.team_members SET role = 'MEMBER'
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000008';
SELECT is((SELECT permissions FROM billium.team_members
		   WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000008'),
	billium_role_cap('MEMBER') - '{invoice:edit}', 'demoting a narrowed ADMIN to MEMBER keeps the grant narrowed');
SET LOCAL ROLE tap_app;
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000004')).kind, 'user', 'act as the VIEWER (api_key:view)');
SELECT results_eq(
	$$SELECT step, name, permissions::text, removed::text FROM billium_explain_key(pg_temp.kid('explained')) ORDER BY step$$,
	$$VALUES (1, 'granted', '{invoice:view,invoice:create,invoice:edit,invoice:delete,product:view,webhook:create,report:view}', '{}'),
			 (2, 'key type cap (sk)', '{invoice:view,invoice:create,invoice:edit,invoice:delete,product:view,webhook:create,report:view}', '{}'),
			 (3, 'creator''s role cap (MEMBER)', '{invoice:view,invoice:create,invoice:edit,product:view}', '{invoice:delete,webhook:create,report:view}'),
			 (4, 'creator''s grant', '{invoice:view,invoice:create,product:view}', '{invoice:edit}'),
			 (5, 'effective', '{invoice:view,invoice:create,product:view}', '{}')$$,
	'explain_key: granted, sk cap, the MEMBER cap, the narrowed grant, effective');
SELECT is((billium_key_verify(pg_temp.k('explained'))).permissions,
	(SELECT permissions FROM billium_explain_key(pg_temp.kid('explained')) WHERE step = 5),
	'billium_key_verify agrees with explain_key''s effective step');
SELECT is((SELECT name FROM billium_explain_key(pg_temp.kid('demoted')) WHERE step = 3),
	'creator''s role cap (not on the team)', 'explain_key of the orphaned key: its creator is not on the team');
SELECT is((SELECT permissions FROM billium_explain_key(pg_temp.kid('demoted')) WHERE step = 5),
	'{}', 'explain_key of the orphaned key: effective {}');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000005')).kind, 'user', 'act as the outsider');
SELECT is(pg_temp.outcome($$SELECT * FROM billium_explain_key(pg_temp.kid('explained'))$$),
	'P0002 - -', 'explain_key refused to a user on no team of the key''s merchant, as if the key did not exist');

------------------------------------------------------------------------------------------------
-- (e) Revocation, expiry, rolling.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys
SELECT 'revoked', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}', 'revoked');
INSERT INTO keys
SELECT 'expired', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}', 'expired', now() - interval '1 day');
INSERT INTO keys
SELECT 'expires later', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}', 'expires later', now() + interval '1 day');
INSERT INTO keys
SELECT 'roll grace', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view,product:*}', 'roll grace');
INSERT INTO keys
SELECT 'roll now', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk', '{invoice:view}', 'roll now');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000003')).kind, 'user', 'act as the MEMBER');
SELECT ok(pg_temp.refusal($$SELECT billium_revoke_api_key(pg_temp.kid('revoked'))$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","required":"api_key:delete"}}',
	'the MEMBER may not revoke: PERMISSION_DENIED requiring api_key:delete');
SELECT ok(pg_temp.refusal($$SELECT billium_roll_api_key(pg_temp.kid('revoked'))$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","required":"api_key:edit"}}',
	'the MEMBER may not roll: PERMISSION_DENIED requiring api_key:edit');
SELECT is((billium_key_verify(pg_temp.k('revoked'))).key_id, pg_temp.kid('revoked'), 'the key still verifies');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT lives_ok($$SELECT billium_revoke_api_key(pg_temp.kid('revoked'))$$, 'the OWNER revokes the key');
SELECT is(pg_temp.outcome($$SELECT billium_key_verify(pg_temp.k('revoked'))$$), '28000 401 API_KEY_REVOKED',
	'a revoked key: verify raises 28000, 401 API_KEY_REVOKED');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate(pg_temp.k('revoked'))$$), '28000 401 API_KEY_REVOKED',
	'a revoked key: authenticate raises API_KEY_REVOKED');
SELECT is(pg_temp.outcome($$SELECT billium_key_verify(pg_temp.k('expired'))$$), '28000 401 API_KEY_EXPIRED',
	'a key created with expires_at in the past: API_KEY_EXPIRED');
SELECT is((billium_key_verify(pg_temp.k('expires later'))).key_id, pg_temp.kid('expires later'),
	'a key expiring tomorrow verifies');
SELECT throws_ok($$SELECT billium_roll_api_key(pg_temp.kid('revoked'))$$, 'P0002', NULL,
	'a revoked key cannot be rolled');
SELECT throws_ok($$SELECT billium_roll_api_key(pg_temp.kid('roll grace'), '-1 hour')$$, '22023', NULL,
	'a negative grace period raises 22023');

INSERT INTO keys SELECT 'rolled with grace', id, api_key FROM billium_roll_api_key(pg_temp.kid('roll grace'), '1 hour');
SELECT isnt(pg_temp.k('rolled with grace'), pg_temp.k('roll grace'), 'rolling issues a new key');
SELECT is((billium_key_verify(pg_temp.k('roll grace'))).permissions, '{invoice:view,product:*}',
	'rolled with a 1 hour grace: the old key still verifies');
SELECT is(billium_key_verify(pg_temp.k('rolled with grace')),
	ROW(pg_temp.kid('rolled with grace'), 'a0000000-0000-0000-0000-000000000001', 'sk',
		'b0000000-0000-0000-0000-000000000001', '{invoice:view,product:*}')::billium_key_principal,
	'the new key verifies with the same grant, merchant, type and creator');

-- A grace of '0' sets the old key's expires_at to now(), the transaction's start, so the refusal
-- shows from the next transaction (test/specs/key_revoke.spec).  Here: the expiry written, the
-- replacement working, and, with expires_at moved just into the past by the superuser, the
-- refusal as API_KEY_EXPIRED.
INSERT INTO keys SELECT 'rolled now', id, api_key FROM billium_roll_api_key(pg_temp.kid('roll now'));
SELECT is((billium_key_verify(pg_temp.k('rolled now'))).key_type, 'pk', 'the replacement of a pk key is a pk key');
SELECT matches(pg_temp.k('rolled now'), '^pk_', 'and starts pk_');
RESET ROLE;
SELECT is((SELECT expires_at FROM billium.api_keys WHERE id = pg_temp.kid('roll grace')), now() + interval '1 hour',
	'rolled with a 1 hour grace: the old key expires an hour from now()');
SELECT is((SELECT expires_at FROM billium.api_keys WHERE id = pg_temp.kid('roll now')), now(),
	'rolled with the default grace: the old key expires at now()');
SELECT ok((SELECT expires_at IS NULL FROM billium.api_keys WHERE id = pg_temp.kid('rolled now')),
	'the replacement keeps the old key''s (absent) expiry');
UPDATE billium.api_keys SET expires_at = now() - interval '1 second' WHERE id = pg_temp.kid('roll now');
SET LOCAL ROLE tap_app;
SELECT is(pg_temp.outcome($$SELECT billium_key_verify(pg_temp.k('roll now'))$$), '28000 401 API_KEY_EXPIRED',
	'the rolled key, once past its expires_at: API_KEY_EXPIRED');
SELECT is((SELECT name FROM billium_explain_key(pg_temp.kid('roll now')) WHERE step = 5),
	'effective (expired: refused)', 'explain_key says the rolled key is expired');
SELECT is((SELECT name FROM billium_explain_key(pg_temp.kid('revoked')) WHERE step = 5),
	'effective (revoked: refused)', 'explain_key says the revoked key is revoked');

------------------------------------------------------------------------------------------------
-- (f) The 401s, MERCHANT_MISMATCH, NOT_A_TEAM_MEMBER, an unknown action, and the key never in
-- the error.  Literal keys below were made with Python's zlib.crc32, independently of the C.
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.outcome($$SELECT billium_authenticate('rk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc')$$),
	'28000 401 API_KEY_MALFORMED', 'a wrong prefix: API_KEY_MALFORMED');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate('sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkq')$$),
	'28000 401 API_KEY_MALFORMED', 'one character short: API_KEY_MALFORMED');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate('sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqcc')$$),
	'28000 401 API_KEY_MALFORMED', 'one character long: API_KEY_MALFORMED');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate('sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqd')$$),
	'28000 401 API_KEY_MALFORMED', 'a bad checksum: API_KEY_MALFORMED');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate('sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2e-kqc')$$),
	'28000 401 API_KEY_MALFORMED', 'a character outside base62: API_KEY_MALFORMED');
SELECT is(pg_temp.outcome($$SELECT billium_key_verify('Bearer sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc')$$),
	'28000 401 API_KEY_MALFORMED', 'verify refuses a malformed key the same way');
SELECT ok(billium_key_is_well_formed('sk_ztys355NrAlpgsJGcDc2bhARePpktWyNYxSWHv2t1NTxKwORvuXAZBFE1BKB8WWNWhZBvSoQlXwwmNobMNszSAzmPj3QgR6A'),
	'a key with a zlib.crc32 checksum computed outside the database is well-formed');
SELECT is(pg_temp.outcome($$SELECT billium_authenticate('sk_ztys355NrAlpgsJGcDc2bhARePpktWyNYxSWHv2t1NTxKwORvuXAZBFE1BKB8WWNWhZBvSoQlXwwmNobMNszSAzmPj3QgR6A')$$),
	'28000 401 API_KEY_INVALID', 'a well-formed key that was never issued: API_KEY_INVALID');
SELECT is(pg_temp.outcome($$SELECT billium_key_verify('pk_FbY8NwcUeb4c0wrUGZECjUYrZUPet9Ee9txXOl0gn4Amzb2Jn1qtHUckwuOjowRPkpaSzx8uN628VDGzhRnesJQWrO3in2AD')$$),
	'28000 401 API_KEY_INVALID', 'a well-formed pk key that was never issued: API_KEY_INVALID');

-- The key text is never in the error's message, detail or hint: neither whole nor its body.
CREATE TEMP TABLE leaks AS
SELECT v.what, v.key, pg_temp.refusal(format('SELECT billium_authenticate(%L)', v.key)) AS r
FROM (VALUES
	('malformed', 'sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqd'),
	('invalid', 'sk_ztys355NrAlpgsJGcDc2bhARePpktWyNYxSWHv2t1NTxKwORvuXAZBFE1BKB8WWNWhZBvSoQlXwwmNobMNszSAzmPj3QgR6A'),
	('revoked', pg_temp.k('revoked')),
	('expired', pg_temp.k('expired'))) AS v(what, key);
SELECT is((SELECT count(*) FROM leaks WHERE r->>'sqlstate' = '28000'), 4::bigint,
	'four bad keys refused with 28000');
SELECT is_empty($$
	SELECT what FROM leaks
	WHERE strpos(concat_ws(' ', r->>'message', r->>'detail', r->>'hint'), substr(key, 4, 16)) > 0
	   OR strpos(concat_ws(' ', r->>'message', r->>'detail', r->>'hint'), right(key, 16)) > 0$$,
	'no part of a refused key appears in the error''s message, detail or hint');
SELECT is_empty($$SELECT what FROM leaks WHERE jsonb_typeof(r->'envelope') <> 'object'
				   OR NOT (r->'envelope' ?& ARRAY['status', 'code', 'message'])$$,
	'each refusal''s detail is one JSON object with status, code and message');
SELECT is_empty($$
	SELECT v.what FROM (SELECT what, r->>'detail' AS detail FROM leaks
						UNION ALL
						SELECT 'excess', pg_temp.refusal('SELECT billium_create_api_key(''a0000000-0000-0000-0000-000000000001'', ''pk'', ''{invoice:edit}'', ''x'')')->>'detail') AS v
	WHERE (SELECT count(*) <> count(DISTINCT k) FROM json_object_keys(v.detail::json) AS k)$$,
	'no envelope repeats a member name');

SELECT is((billium_authenticate(pg_temp.k('parent'))).kind, 'api_key', 'authenticate as a key of merchant one');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000002')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"MERCHANT_MISMATCH","action":"invoices.list"}}',
	'a key of merchant one on merchant two: 403 MERCHANT_MISMATCH');
SELECT throws_ok($$SELECT billium_authorize('invoices.fly', 'a0000000-0000-0000-0000-000000000001')$$,
	'22023', NULL, 'an unknown action raises 22023');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000005')).kind, 'user', 'act as the outsider');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"NOT_A_TEAM_MEMBER"}}',
	'a user on no team of the merchant: 403 NOT_A_TEAM_MEMBER');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000003')).kind, 'user', 'act as the MEMBER');
SELECT is((billium_authorize('invoices.update', 'a0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000003'::uuid, 'the MEMBER may update invoices');
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('invoices.delete', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"status":403,"code":"PERMISSION_DENIED","required":"invoice:delete","action":"invoices.delete"}}',
	'the MEMBER may not delete invoices: PERMISSION_DENIED requiring invoice:delete');

-- A user principal's permissions follow a change to the team within the transaction.
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('team.invite', 'a0000000-0000-0000-0000-000000000001')$$),
	'ok', 'the ADMIN may invite to the team');
RESET ROLE;
UPDATE billium.team_members SET role = 'MEMBER'
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000002';
SET LOCAL ROLE tap_app;
SELECT ok(pg_temp.refusal($$SELECT billium_authorize('team.invite', 'a0000000-0000-0000-0000-000000000001')$$)
		  @> '{"sqlstate":"42501","envelope":{"code":"PERMISSION_DENIED","required":"team:invite"}}',
	'demoted to MEMBER, the same user principal may no longer invite');

------------------------------------------------------------------------------------------------
-- billium.actions is the gate's catalog: an action a deployment adds, or a change to one, is
-- seen by the next call (here: the same backend, after the writing statement).
------------------------------------------------------------------------------------------------
RESET ROLE;
INSERT INTO billium.actions (name, permission, secret_only) VALUES ('invoices.refund', 'invoice:edit', true);
UPDATE billium.actions SET secret_only = true WHERE name = 'products.retrieve';
SET LOCAL ROLE tap_app;
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.refund', 'a0000000-0000-0000-0000-000000000001')$$),
	'ok', 'an action a deployment added to billium.actions is known to the gate at once');
SELECT is((billium_authenticate(pg_temp.k('pk full'))).kind, 'api_key', 'authenticate as the full pk key');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('products.retrieve', 'a0000000-0000-0000-0000-000000000001')$$),
	'42501 403 SECRET_KEY_REQUIRED', 'an action made secret-only in billium.actions is closed to pk keys at once');

SELECT * FROM finish();
ROLLBACK;
