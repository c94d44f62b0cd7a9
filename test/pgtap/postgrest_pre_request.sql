-- PostgREST's db-pre-request (issue 12, item 11; decision 6): billium_postgrest_pre_request maps
-- the request's method and path to an action and asks the gate, so a pk key cannot read a list
-- through PostgREST (row-level security alone cannot tell a list from a retrieve), and a key
-- without the action's permission is refused with the gate's envelope before any statement runs.
-- The documented limit stays: a raw SQL connection holding a pk key still SELECTs the products.
BEGIN;
SELECT plan(28);

INSERT INTO billium.merchants (id, name) VALUES ('a8000000-0000-0000-0000-000000000001', 'postgrest A');
INSERT INTO billium.users (id, email) VALUES
	('b8000000-0000-0000-0000-000000000001', 'owner@postgrest.test'),
	('b8000000-0000-0000-0000-000000000002', 'viewer@postgrest.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a8000000-0000-0000-0000-000000000001', 'b8000000-0000-0000-0000-000000000001', 'OWNER'),
	('a8000000-0000-0000-0000-000000000001', 'b8000000-0000-0000-0000-000000000002', 'VIEWER');
INSERT INTO billium.products (merchant_id, id, name, price) VALUES
	('a8000000-0000-0000-0000-000000000001', 'e8000000-0000-0000-0000-000000000001', 'one', 100),
	('a8000000-0000-0000-0000-000000000001', 'e8000000-0000-0000-0000-000000000002', 'two', 200);

CREATE ROLE tap_pgrst_app LOGIN;
GRANT billium_api, billium_admin TO tap_pgrst_app;
SET LOCAL ROLE tap_pgrst_app;
SET LOCAL search_path = public, billium;

------------------------------------------------------------------------------------------------
-- The mapping.
------------------------------------------------------------------------------------------------

SELECT is(billium_postgrest_action(m, p, h::jsonb), want, format('%s %s %s -> %s', m, p, h, coalesce(want, 'no action')))
FROM (VALUES
	('GET', '/products', '{}', 'products.list'),
	('HEAD', '/products', '{}', 'products.list'),
	('GET', '/products', '{"accept": "application/vnd.pgrst.object+json"}', 'products.retrieve'),
	('POST', '/invoices', '{}', 'invoices.create'),
	('PATCH', '/invoices', '{}', 'invoices.update'),
	('DELETE', '/webhooks', '{}', 'webhooks.delete'),
	('GET', '/team_members', '{}', 'team.list'),
	('POST', '/checkout_settings', '{}', 'checkout.update'),
	('GET', '/reports', '{}', 'reports.list'),
	('GET', '/users', '{}', NULL),
	('POST', '/rpc/billium_create_api_key', '{}', NULL)) AS v(m, p, h, want);

-- Every (table, command) a rule names actions for maps to an action of that rule's permission.
SELECT is_empty($$
	SELECT r.tbl, r.command FROM billium.policy_rules r
	CROSS JOIN LATERAL (VALUES ('{}'::jsonb), ('{"accept": "application/vnd.pgrst.object+json"}')) AS h(headers)
	LEFT JOIN billium.actions a ON a.name = billium_postgrest_action(
		CASE r.command WHEN 'SELECT' THEN 'GET' WHEN 'INSERT' THEN 'POST' WHEN 'UPDATE' THEN 'PATCH' ELSE 'DELETE' END,
		'/' || r.tbl, h.headers)
	WHERE r.actions <> '{}' AND a.permission IS DISTINCT FROM r.permission$$,
	'every request to a table maps to an action needing the permission its policy needs');

------------------------------------------------------------------------------------------------
-- The pre-request, as PostgREST calls it: request.method, request.path, request.headers set.
------------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.request(method text, path text, headers jsonb DEFAULT '{}') RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	det text;
BEGIN
	PERFORM set_config('request.method', method, true), set_config('request.path', path, true),
			set_config('request.headers', headers::text, true);
	PERFORM billium_postgrest_pre_request();
	RETURN 'allowed';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
	RETURN coalesce(det::jsonb ->> 'code', det, SQLERRM);
END
$$;

SELECT is((billium_act_as('b8000000-0000-0000-0000-000000000001')).user_id,
	'b8000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER to mint keys');
CREATE TEMP TABLE keys (label text PRIMARY KEY, api_key text);
INSERT INTO keys VALUES
	('pk', billium_test_key('a8000000-0000-0000-0000-000000000001', 'pk', '{invoice:create,invoice:view,product:view}')),
	('sk invoices', billium_test_key('a8000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}'));

DO $$ BEGIN PERFORM set_config('billium.api_key', (SELECT api_key FROM keys WHERE label = 'pk'), true); END $$;
SELECT is(pg_temp.request('GET', '/products'), 'SECRET_KEY_REQUIRED', 'a pk key cannot list products through PostgREST');
SELECT is(pg_temp.request('GET', '/invoices'), 'SECRET_KEY_REQUIRED', 'nor invoices');
SELECT is(pg_temp.request('GET', '/products', '{"accept": "application/vnd.pgrst.object+json"}'), 'allowed',
	'a pk key retrieves one product (the singular object request)');
SELECT is(pg_temp.request('POST', '/invoices'), 'allowed', 'a pk key creates an invoice');
SELECT is(pg_temp.request('DELETE', '/invoices'), 'SECRET_KEY_REQUIRED', 'a pk key deletes nothing');
SELECT is(pg_temp.request('POST', '/rpc/billium_create_api_key'), 'allowed',
	'an /rpc/ call is left to the function, which asks the gate itself');
-- The documented limit: without the pre-request (raw SQL), row-level security lets the pk key read
-- the products, as it does for a retrieve.
SELECT is((SELECT count(*) FROM billium.products), 2::bigint,
	'documented limit: a raw SQL SELECT with a pk key still reads the merchant''s products');

DO $$ BEGIN PERFORM set_config('billium.api_key', (SELECT api_key FROM keys WHERE label = 'sk invoices'), true); END $$;
SELECT is(pg_temp.request('GET', '/invoices'), 'allowed', 'an sk key with invoice:view lists invoices');
SELECT is(pg_temp.request('GET', '/products'), 'PERMISSION_DENIED', 'but not products');
SELECT is(pg_temp.request('PATCH', '/invoices'), 'PERMISSION_DENIED', 'nor edits invoices');

DO $$ BEGIN PERFORM set_config('billium.api_key', '', true); END $$;
SELECT is(pg_temp.request('GET', '/products'), 'API_KEY_MISSING', 'no principal: 401');

-- A dashboard session names its merchant in x-merchant-id; without it the policies decide.
SELECT is((billium_act_as('b8000000-0000-0000-0000-000000000002')).user_id,
	'b8000000-0000-0000-0000-000000000002'::uuid, 'act as the VIEWER');
SELECT is(pg_temp.request('POST', '/products', '{"x-merchant-id": "a8000000-0000-0000-0000-000000000001"}'),
	'PERMISSION_DENIED', 'a VIEWER cannot create a product');
SELECT is(pg_temp.request('GET', '/products', '{"x-merchant-id": "a8000000-0000-0000-0000-000000000001"}'),
	'allowed', 'a VIEWER lists products');
SELECT is(pg_temp.request('POST', '/products'), 'allowed',
	'without x-merchant-id the session is left to the policies (which refuse the VIEWER''s insert)');

SELECT * FROM finish();
ROLLBACK;
