-- The SQL behind the REST surface (issue 14): an action ruled by a team role
-- (team.transfer_ownership, the OWNER's alone), billium.request_id in the audit trail, the
-- provisioning functions and their role, billium_rate_limit_current and the report catalog.
-- The HTTP side is examples/gateway/test/conformance.test.js.
BEGIN;
SELECT plan(26);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser: merchant ...e1 with OWNER u1, ADMIN u2, MEMBER u3; an sk key with
-- every permission.
------------------------------------------------------------------------------------------------
INSERT INTO billium.merchants (id, name) VALUES ('e1000000-0000-0000-0000-000000000001', 'rest one');
INSERT INTO billium.users (id, email) VALUES
	('e2000000-0000-0000-0000-000000000001', 'owner@rest.test'),
	('e2000000-0000-0000-0000-000000000002', 'admin@rest.test'),
	('e2000000-0000-0000-0000-000000000003', 'member@rest.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('e1000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-000000000001', 'OWNER'),
	('e1000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-000000000002', 'ADMIN'),
	('e1000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-000000000003', 'MEMBER');
SELECT billium.billium_test_key('e1000000-0000-0000-0000-000000000001', 'sk', '{*}') AS key \gset

CREATE ROLE tap_rest_app;
GRANT billium_api TO tap_rest_app;
CREATE ROLE tap_rest_signup;
GRANT billium_provisioner TO tap_rest_signup;

-- The envelope of the error a statement raises (or null): its JSON DETAIL and SQLSTATE.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	state text; detail text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
	RETURN jsonb_build_object('sqlstate', state, 'envelope', CASE WHEN detail LIKE '{%' THEN detail::jsonb END);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.refusal(text) TO PUBLIC;

------------------------------------------------------------------------------------------------
-- The catalog: one action ruled by a role, none by both or neither.
------------------------------------------------------------------------------------------------
SELECT results_eq($$SELECT name, role, secret_only FROM billium.actions WHERE role IS NOT NULL$$,
	$$VALUES ('team.transfer_ownership', 'OWNER', true)$$,
	'team.transfer_ownership is ruled by the OWNER role, and no other action by a role');
SELECT throws_ok($$INSERT INTO billium.actions (name, permission, role) VALUES ('x.both', 'invoice:view', 'OWNER')$$,
	'23514', NULL, 'an action ruled by a permission and a role is refused');
SELECT throws_ok($$INSERT INTO billium.actions (name) VALUES ('x.neither')$$,
	'23514', NULL, 'an action ruled by neither is refused');
SELECT throws_ok($$INSERT INTO billium.actions (name, role) VALUES ('x.king', 'KING')$$,
	'23514', NULL, 'an action ruled by a role that does not exist is refused');

------------------------------------------------------------------------------------------------
-- The gate on team.transfer_ownership.
------------------------------------------------------------------------------------------------
SELECT is((billium.billium_act_as('e2000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SET LOCAL ROLE tap_rest_app;
SELECT is(pg_temp.refusal($$SELECT billium.billium_authorize('team.transfer_ownership', 'e1000000-0000-0000-0000-000000000001')$$),
	NULL, 'the OWNER passes the gate');
RESET ROLE;
SELECT is((billium.billium_act_as('e2000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
SET LOCAL ROLE tap_rest_app;
SELECT is((pg_temp.refusal($$SELECT billium.billium_authorize('team.transfer_ownership', 'e1000000-0000-0000-0000-000000000001')$$)->'envelope')
		  - 'message',
	'{"status":403,"code":"PERMISSION_DENIED","action":"team.transfer_ownership","required_role":"OWNER"}'::jsonb,
	'an ADMIN, holding team:manage_roles, is refused naming the role');
SELECT is(pg_temp.refusal($$SELECT billium.billium_transfer_ownership('e1000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-000000000003')$$)->>'sqlstate',
	'42501', 'and so is the ADMIN''s transfer itself');
RESET ROLE;
SELECT is((SELECT role FROM billium.team_members WHERE user_id = 'e2000000-0000-0000-0000-000000000001'), 'OWNER',
	'the refused transfer changed nothing');
SET LOCAL ROLE tap_rest_app;
SELECT is(pg_temp.refusal(format($$SELECT billium.billium_authenticate(%L)$$, :'key')), NULL, 'an sk key with every permission');
SELECT is(pg_temp.refusal($$SELECT billium.billium_authorize('team.transfer_ownership', 'e1000000-0000-0000-0000-000000000001')$$)->'envelope'->>'required_role',
	'OWNER', 'a key holds no role: refused naming it');
SELECT is(pg_temp.refusal($$SELECT billium.billium_authorize('team.update_role', 'e1000000-0000-0000-0000-000000000001')$$),
	NULL, 'while the same key passes the permission-ruled team actions');

------------------------------------------------------------------------------------------------
-- billium.request_id: written with the transaction's audit rows; only short printable ids.
------------------------------------------------------------------------------------------------
SELECT set_config('billium.request_id', 'req-tap.7:a_b', true) IS NOT NULL AS set \gset
SELECT is(pg_temp.refusal($$SELECT billium.billium_create_api_key('e1000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'tap')$$),
	NULL, 'the key creates a key');
RESET ROLE;
SELECT is((SELECT request_id FROM billium.audit_log WHERE action = 'api_keys.create' AND after->>'name' = 'tap'),
	'req-tap.7:a_b', 'its audit row carries the request id');
SET LOCAL ROLE tap_rest_app;
SELECT is(pg_temp.refusal($$SELECT set_config('billium.request_id', 'two words', true)$$)->>'sqlstate', '22023',
	'a request id with a space is refused');
SELECT is(pg_temp.refusal(format($$SELECT set_config('billium.request_id', %L, true)$$, repeat('x', 129)))->>'sqlstate', '22023',
	'so is one over 128 characters');
SELECT is(pg_temp.refusal(format($$SELECT set_config('billium.request_id', %L, true)$$, :'key'))->>'sqlstate', '22023',
	'and one that looks like an API key (never copied into the audit trail)');

------------------------------------------------------------------------------------------------
-- billium_rate_limit_current and the reports.
------------------------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM billium.billium_rate_limit_current()), 0::bigint,
	'no bucket row where nothing limits the merchant (billium.rate_limit is 0 here)');
SELECT results_eq($$SELECT id FROM billium.billium_report_catalog()$$, $$VALUES ('invoice_totals')$$,
	'the report catalog');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Provisioning: billium_provisioner only.
------------------------------------------------------------------------------------------------
SET LOCAL ROLE tap_rest_app;
SELECT is(pg_temp.refusal($$SELECT billium.billium_provision_user('api@rest.test')$$)->>'sqlstate', '42501',
	'billium_api may not provision users');
RESET ROLE;
SET LOCAL ROLE tap_rest_signup;
SELECT isnt(billium.billium_provision_user('New.User@Rest.Test'), NULL, 'billium_provisioner creates a user');
SELECT is(pg_temp.refusal($$SELECT billium.billium_provision_user('new.user@rest.test')$$)->>'sqlstate', '23505',
	'an email that exists (case aside) is refused');
SELECT is(pg_temp.refusal($$SELECT billium.billium_provision_user('not an email')$$)->>'sqlstate', '22023',
	'so is one that is not an email address');
SELECT is(pg_temp.refusal($$SELECT billium.billium_provision_user_factors('e2000000-0000-0000-0000-000000000003', tfa => true)$$),
	NULL, 'and records a user''s factors');
RESET ROLE;
SELECT results_eq($$SELECT email, tfa_enabled, email_verified FROM billium.users
	WHERE email IN ('new.user@rest.test', 'member@rest.test') ORDER BY email$$,
	$$VALUES ('member@rest.test', true, false), ('new.user@rest.test', false, false)$$,
	'one user added (lower-cased), the member''s two-factor recorded, nothing else');

SELECT * FROM finish();
ROLLBACK;
