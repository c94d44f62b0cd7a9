-- The shape of a grant (issue 12, decision 3): a grant (a key's, or a team member's) holding a
-- permission of a domain other than its create-like ones (*:create, team:invite) and its view
-- must also hold that domain's view, because writing implies seeing what you write.  Such a
-- grant is refused with 22023 naming the missing view, and nothing changes, at key creation,
-- key update (narrowing) and team grant changes.  A refusal for exceeding the caller (403) comes
-- first.  Rows from before 0.6.0 that break the rule keep working; a change may not make one
-- lack a view it did not lack already.
--
-- The 18 permissions that need their domain's view are typed here from the decision, not read
-- from billium.
BEGIN;
SELECT plan(66);

INSERT INTO billium.merchants (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'shape merchant');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner@grant-shape.test'),
	('b0000000-0000-0000-0000-000000000002', 'admin@grant-shape.test'),
	('b0000000-0000-0000-0000-000000000003', 'member@grant-shape.test'),
	('b0000000-0000-0000-0000-000000000004', 'legacy@grant-shape.test'),
	('b0000000-0000-0000-0000-000000000005', 'invitee@grant-shape.test');
INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', 'ADMIN', NULL),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003', 'MEMBER', NULL),
	-- As a row from before 0.6.0 could be: invoice:edit without invoice:view.
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'ADMIN',
	 '{invoice:edit,invoice:delete,product:view,product:edit,team:view}');
-- A key from before 0.6.0 with the same shape, inserted directly.
INSERT INTO billium.api_keys (id, merchant_id, key_type, name, hint, key_hash, permissions, created_by)
SELECT 'c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'sk',
	   'legacy', 'sk_...' || right(k, 4), sha256(convert_to(k, 'UTF8')), '{invoice:edit,api_key:edit}',
	   'b0000000-0000-0000-0000-000000000001'
FROM (VALUES ('sk_VF3j6soByJjrvKhtZWeI4FnlkABrNVWPVoRiQljVnaYwEt05y45XMXKu4dKErc5rzsRTyjEIyPnebceOZAYVtIMpyp40g3pA')) AS v(k);

CREATE TEMP TABLE needs_view (permission text PRIMARY KEY, view text NOT NULL);
INSERT INTO needs_view VALUES
	('merchant:edit', 'merchant:view'), ('merchant:delete', 'merchant:view'), ('merchant:billing', 'merchant:view'),
	('invoice:edit', 'invoice:view'), ('invoice:delete', 'invoice:view'),
	('product:edit', 'product:view'), ('product:delete', 'product:view'),
	('customer:edit', 'customer:view'), ('customer:delete', 'customer:view'),
	('team:remove', 'team:view'), ('team:manage_roles', 'team:view'),
	('api_key:edit', 'api_key:view'), ('api_key:delete', 'api_key:view'),
	('webhook:edit', 'webhook:view'), ('webhook:delete', 'webhook:view'),
	('checkout:edit', 'checkout:view'),
	('wallet:edit', 'wallet:view'), ('wallet:delete', 'wallet:view');

CREATE ROLE tap_shape LOGIN;
GRANT billium_api, billium_admin TO tap_shape;
GRANT SELECT ON needs_view TO tap_shape;
SET LOCAL ROLE tap_shape;
SET LOCAL search_path = public, billium;

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
		env := NULL;
	END;
	RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', det, 'envelope', env);
END
$$;
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(r->>'sqlstate' || coalesce(' ' || (r->'envelope'->>'code'), ''), 'ok')
	FROM (SELECT pg_temp.refusal(sql) AS r) s
$$;
CREATE FUNCTION pg_temp.create_key(perms text, key_type text DEFAULT 'sk') RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.outcome(format('SELECT billium_create_api_key(%L, %L, %L, ''shape'')',
								  'a0000000-0000-0000-0000-000000000001', key_type, perms))
$$;
CREATE TEMP TABLE keys (label text PRIMARY KEY, id uuid NOT NULL, api_key text NOT NULL);
CREATE FUNCTION pg_temp.kid(label text) RETURNS uuid LANGUAGE sql STABLE AS
	$$ SELECT id FROM keys WHERE keys.label = kid.label $$;
CREATE FUNCTION pg_temp.key_count() RETURNS bigint LANGUAGE sql STABLE AS
	$$ SELECT count(*) FROM billium.api_keys WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' $$;
CREATE FUNCTION pg_temp.grant_of(u uuid) RETURNS billium.billium_permset LANGUAGE sql STABLE AS
	$$ SELECT permissions FROM billium.team_members WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = u $$;

------------------------------------------------------------------------------------------------
-- (a) Key creation, by the OWNER: each of the 34 permissions alone, then with its domain's view.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT is(pg_temp.create_key('{' || p.name || '}'),
		  CASE WHEN n.view IS NULL THEN 'ok' ELSE '22023' END,
		  format('a key granted {%s} alone: %s', p.name, CASE WHEN n.view IS NULL THEN 'created' ELSE 'refused, 22023 (no ' || n.view || ')' END))
FROM billium.permissions p LEFT JOIN needs_view n ON n.permission = p.name
ORDER BY p.bit;
SELECT is((SELECT array_agg(n.permission ORDER BY n.permission) FROM needs_view n
		   WHERE pg_temp.create_key(format('{%s,%s}', n.permission, n.view)) <> 'ok'),
	NULL, 'each of the 18 with its domain''s view: created');

SELECT is(pg_temp.key_count(), (SELECT count(*) FROM billium.permissions p WHERE p.name NOT IN (SELECT permission FROM needs_view))
								+ 18 + 1,
	'the refused creations made no key (16 created alone, 18 with their view, and the legacy key)');
SELECT matches(pg_temp.refusal($$SELECT billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:edit,product:delete,report:view}', 'x')$$) ->> 'message',
	'invoice:view.*product:view', 'the message names every missing view (invoice:view, product:view)');
SELECT is(pg_temp.create_key('{invoice:create}'), 'ok', 'a create-only grant needs no view ({invoice:create})');
SELECT is(pg_temp.create_key('{team:invite}'), 'ok', 'team:invite needs no view');
SELECT is(pg_temp.create_key('{invoice:create}', 'pk'), 'ok', 'a pk key with just invoice:create');

-- The role caps and the public cap have the shape.
SELECT is((SELECT array_agg(r.role) FROM billium.roles r WHERE pg_temp.create_key(r.permissions::text) <> 'ok'),
	NULL, 'a key granted each role''s whole cap: created (OWNER, ADMIN, MEMBER, VIEWER)');
SELECT is(pg_temp.create_key('{invoice:create,invoice:view,product:view}', 'pk'), 'ok', 'a pk key with the whole public cap: created');

-- Beyond the caller comes first: 403, not 22023.
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
SELECT is(pg_temp.create_key('{merchant:billing}'), '42501 PERMISSION_DENIED',
	'the ADMIN asking for {merchant:billing} (beyond it, and without merchant:view): 403 first');

------------------------------------------------------------------------------------------------
-- (b) Key update: a narrowing that drops the view of a domain it still writes in is refused.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys SELECT 'editor', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view,invoice:edit,product:view}', 'editor');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('editor'), '{invoice:edit,product:view}')$$),
	'22023', 'narrowing {invoice:view,invoice:edit,product:view} to {invoice:edit,product:view}: 22023');
SELECT matches(pg_temp.refusal($$SELECT billium_update_api_key(pg_temp.kid('editor'), '{invoice:edit,product:view}')$$) ->> 'message',
	'invoice:view', 'the message names invoice:view');
RESET ROLE;
SELECT is((SELECT permissions FROM billium.api_keys WHERE id = pg_temp.kid('editor')), '{invoice:view,invoice:edit,product:view}',
	'the refused update changed nothing');
SET LOCAL ROLE tap_shape;
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('editor'), '{invoice:view,product:view}')$$),
	'ok', 'narrowing it to {invoice:view,product:view}: allowed');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('editor'), NULL, 'renamed')$$),
	'ok', 'renaming only: allowed');

------------------------------------------------------------------------------------------------
-- (c) Team grants: an invitation and a grant change.
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.outcome($$INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000005', 'MEMBER', '{invoice:view,invoice:edit,customer:edit}')$$),
	'22023', 'inviting a MEMBER with {invoice:view,invoice:edit,customer:edit}: 22023 (no customer:view)');
SELECT is(pg_temp.grant_of('b0000000-0000-0000-0000-000000000005'), NULL, 'nobody was invited');
SELECT is(pg_temp.outcome($$INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000005', 'MEMBER', '{invoice:create}')$$),
	'ok', 'inviting a MEMBER with {invoice:create}: allowed');
SELECT is(pg_temp.outcome($$UPDATE billium.team_members SET permissions = '{invoice:edit,product:view}'
	WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000003'$$),
	'22023', 'narrowing the MEMBER''s grant to {invoice:edit,product:view}: 22023');
SELECT is(pg_temp.grant_of('b0000000-0000-0000-0000-000000000003'), billium_role_cap('MEMBER'),
	'the MEMBER''s grant is unchanged');
SELECT is(pg_temp.outcome($$UPDATE billium.team_members SET permissions = '{invoice:view,invoice:edit,product:view}'
	WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000003'$$),
	'ok', 'narrowing it to {invoice:view,invoice:edit,product:view}: allowed');
------------------------------------------------------------------------------------------------
-- (d) Rows from before 0.6.0 that lack a view keep working; a change may not add a lack.
------------------------------------------------------------------------------------------------

SELECT is((billium_key_verify('sk_VF3j6soByJjrvKhtZWeI4FnlkABrNVWPVoRiQljVnaYwEt05y45XMXKu4dKErc5rzsRTyjEIyPnebceOZAYVtIMpyp40g3pA')).permissions,
	'{invoice:edit,api_key:edit}', 'the legacy key {invoice:edit,api_key:edit} still verifies with its grant');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.update', 'a0000000-0000-0000-0000-000000000001')
	FROM billium_authenticate('sk_VF3j6soByJjrvKhtZWeI4FnlkABrNVWPVoRiQljVnaYwEt05y45XMXKu4dKErc5rzsRTyjEIyPnebceOZAYVtIMpyp40g3pA')$$),
	'ok', 'and the gate still allows it invoices.update');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT is(pg_temp.outcome($$SELECT billium_roll_api_key('c0000000-0000-0000-0000-000000000001', '1 hour')$$),
	'ok', 'it can be rolled (a roll keeps the grant; the OWNER holds it)');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key('c0000000-0000-0000-0000-000000000001', '{invoice:edit}')$$),
	'ok', 'narrowed to {invoice:edit}, lacking only the view it lacked: allowed');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key('c0000000-0000-0000-0000-000000000001', '{invoice:edit,webhook:delete}')$$),
	'22023', 'changed to {invoice:edit,webhook:delete}, a new lack (webhook:view): 22023');
SELECT is(pg_temp.outcome($$UPDATE billium.team_members SET role = 'MEMBER'
	WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000004'$$),
	'ok', 'the legacy ADMIN demoted to MEMBER: allowed (a demotion is never blocked)');
SELECT is(pg_temp.grant_of('b0000000-0000-0000-0000-000000000004'), '{invoice:edit,product:view,product:edit,team:view}',
	'its grant narrowed to the MEMBER cap, still lacking only invoice:view');
SELECT is(pg_temp.outcome($$UPDATE billium.team_members SET permissions = '{invoice:edit,product:edit,team:view}'
	WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000004'$$),
	'22023', 'dropping its product:view while keeping product:edit: 22023');

SELECT * FROM finish();
ROLLBACK;
