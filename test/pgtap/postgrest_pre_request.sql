-- PostgREST's db-pre-request: billium_postgrest_pre_request maps the request's method and path to
-- an action and asks the gate, so a pk key cannot read a list through PostgREST (row-level security
-- alone cannot tell a list from a retrieve), and a key without the action's permission is refused
-- with the gate's envelope before any statement runs.  The path is read as PostgREST routes it
-- (percent-decoded per segment, empty segments dropped, case kept, in the schema PostgREST put
-- first in search_path); a pk key's request that maps to no action (another table, the root,
-- OPTIONS) is refused rather than left to row-level security; PUT (an upsert) needs the update
-- action too.  The documented limit stays: a raw SQL connection holding a pk key still SELECTs
-- the products.
BEGIN;
SELECT plan(74);

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
	('POST', '/rpc/billium_create_api_key', '{}', NULL),
	-- As PostgREST routes the path: a trailing or doubled slash, a query string, percent-encoding
	-- (decoded per segment, so an encoded slash stays in its segment), the method's case.
	('GET', '/products/', '{}', 'products.list'),
	('GET', '//products//', '{}', 'products.list'),
	('GET', '/products?select=id', '{}', 'products.list'),
	('GET', '/%70roducts', '{}', 'products.list'),
	('GET', '/%70RODUCTS', '{}', NULL),
	('get', '/products', '{}', 'products.list'),
	('Patch', '/invoices/', '{}', 'invoices.update'),
	('GET', '/%2Fproducts', '{}', NULL),
	('GET', '/products/extra', '{}', NULL),
	-- PostgREST quotes the relation: /Products is the relation "Products", not billium's products.
	('GET', '/Products', '{}', NULL),
	('GET', '/%ZZproducts', '{}', NULL),
	('GET', '/%ff', '{}', NULL),
	('OPTIONS', '/products', '{}', NULL),
	('GET', '/', '{}', NULL)) AS v(m, p, h, want);

SELECT is(billium_postgrest_path(p), want, format('segments of %s', p))
FROM (VALUES
	('/products', '{products}'::text[]),
	('/products/', '{products}'),
	('//rpc//billium_create_api_key/?x=1', '{rpc,billium_create_api_key}'),
	('/%72pc/f%6fo', '{rpc,foo}'),
	('/a%2Fb', '{a/b}'),
	('/', '{}'),
	('/%C3%A9', '{é}'),
	('/%C3', NULL)) AS v(p, want);

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

-- PostgREST sets search_path to the request's schema (the first exposed one, or the one
-- Accept-Profile / Content-Profile names) then db-extra-search-path (public by default).
CREATE FUNCTION pg_temp.request(method text, path text, headers jsonb DEFAULT '{}', schema text DEFAULT 'billium')
	RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	det text;
	saved text := current_setting('search_path');
BEGIN
	PERFORM set_config('request.method', method, true), set_config('request.path', path, true),
			set_config('request.headers', headers::text, true),
			set_config('search_path', format('%I, public', schema), true);
	PERFORM billium.billium_postgrest_pre_request();
	PERFORM set_config('search_path', saved, true);
	RETURN 'allowed';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
	PERFORM set_config('search_path', saved, true);
	RETURN coalesce(CASE WHEN det LIKE '{%' THEN det::jsonb ->> 'code' END, nullif(det, ''), SQLERRM);
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
-- What PostgREST can serve however the path is spelled is gated; a pk key's request that maps to no
-- action is refused, not left to row-level security.
SELECT is(pg_temp.request(m, p), 'SECRET_KEY_REQUIRED', format('a pk key: %s %s refused', m, p))
FROM (VALUES ('GET', '/products/'), ('GET', '/%70roducts'), ('HEAD', '/products'), ('GET', '//products'),
			 ('OPTIONS', '/products'), ('GET', '/users'), ('GET', '/api_keys'), ('GET', '/audit_log'),
			 ('GET', '/'), ('GET', '/Products'), ('GET', '/products/extra'), ('POST', '/%ff'),
			 ('PUT', '/invoices'), ('POST', '/rpc')) AS v(m, p);
SELECT is(pg_temp.request('POST', '/invoices/'), 'allowed', 'a pk key creates an invoice at /invoices/ too');
SELECT is(pg_temp.request('POST', '//rpc/billium_create_api_key/'), 'allowed', 'and an /rpc/ call however spelled is left to the function');
SELECT is(pg_temp.request('GET', '/products', '{}', 'public'), 'SECRET_KEY_REQUIRED',
	'a pk key''s request to another schema''s relation (Accept-Profile) is refused');
SELECT is(pg_temp.request('POST', '/invoices', '{"prefer": "resolution=merge-duplicates"}'), 'SECRET_KEY_REQUIRED',
	'an upsert by POST needs the update action too');

-- The documented limit: without the pre-request (raw SQL), row-level security lets the pk key read
-- the products, as it does for a retrieve.
SELECT is((SELECT count(*) FROM billium.products), 2::bigint,
	'documented limit: a raw SQL SELECT with a pk key still reads the merchant''s products');

DO $$ BEGIN PERFORM set_config('billium.api_key', (SELECT api_key FROM keys WHERE label = 'sk invoices'), true); END $$;
SELECT is(pg_temp.request('GET', '/invoices'), 'allowed', 'an sk key with invoice:view lists invoices');
SELECT is(pg_temp.request('GET', '/products'), 'PERMISSION_DENIED', 'but not products');
SELECT is(pg_temp.request('PATCH', '/invoices'), 'PERMISSION_DENIED', 'nor edits invoices');
SELECT is(pg_temp.request(m, p), 'PERMISSION_DENIED', format('an sk key: %s %s gated as products', m, p))
FROM (VALUES ('GET', '/products/'), ('GET', '/%70roducts'), ('get', '/products')) AS v(m, p);
SELECT is(pg_temp.request('PUT', '/invoices'), 'PERMISSION_DENIED', 'a PUT (upsert) needs the create and update actions');
SELECT is(pg_temp.request('GET', '/users'), 'allowed', 'an sk key''s request to a table no action names is left to row-level security');
SELECT is(pg_temp.request('GET', '/products', '{}', 'public'), 'allowed',
	'and so is a request to a relation of another schema');

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
