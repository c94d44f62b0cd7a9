-- billium walk-through: what a backend asks the database, and what it answers.
-- Run by `make demo` against a throwaway cluster; each step prints its question and its answer.
\set SHOW_CONTEXT never
\pset footer off
SET search_path = billium, public;

\echo
\echo '== 1. The 34 permissions, in 10 domains (billium.permissions) =='
SELECT domain, string_agg(name, ', ' ORDER BY "bit") AS permissions
FROM permissions GROUP BY domain ORDER BY min("bit");

\echo
\echo '== 2. A permission set is one 8-byte value; text in, canonical text out =='
SELECT '{ product:view, invoice:view, invoice:view }'::billium_permset AS canonical,
       '{invoice:*}'::billium_permset AS whole_domain,
       billium_permset_count('{*}') AS everything;

\echo
\echo '== 3. Set algebra: union, intersection, difference, containment =='
SELECT '{invoice:view}'::billium_permset | '{product:view}' AS "union",
       '{invoice:*}'::billium_permset & '{invoice:view,product:view}' AS intersection,
       '{invoice:*}'::billium_permset - '{invoice:delete}' AS difference,
       '{invoice:*}'::billium_permset @> '{invoice:edit}' AS contains;

\echo
\echo '== 4. The four team roles cap what a user may hold (billium.roles) =='
SELECT role, count, billium_has_permission(permissions, 'merchant:delete') AS may_delete_merchant,
       billium_has_permission(permissions, 'invoice:create') AS may_create_invoices
FROM roles;

\echo
\echo '== 5. Key types: a public key holds at most three permissions =='
SELECT key_type, count, CASE WHEN count < 34 THEN permissions::text ELSE '(all 34)' END AS permissions
FROM key_types;

\echo
\echo '== 6. Allowed and refused: may a MEMBER delete an invoice? may a pk key create one? =='
SELECT billium_has_permission(billium_role_cap('MEMBER'), 'invoice:delete') AS member_deletes_invoice,
       billium_has_permission(billium_key_type_cap('pk'), 'invoice:create') AS pk_creates_invoice,
       billium_has_permission(billium_key_type_cap('pk'), 'invoice:edit') AS pk_cancels_invoice;

\echo
\echo '== 7. Mistakes are refused with the SQLSTATE and a hint, never a silent false =='
SELECT '{invoice:fly}'::billium_permset;
SELECT billium_role_cap('SUPERUSER');

\echo
\echo '== 8. A merchant, its owner and a member (as the superuser provisioning the database) =='
INSERT INTO users (id, email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'owner@acme.test'),
	('a0000000-0000-0000-0000-000000000002', 'member@acme.test');
INSERT INTO merchants (id, name) VALUES
	('b0000000-0000-0000-0000-000000000001', 'Acme'),
	('b0000000-0000-0000-0000-000000000002', 'Globex');
INSERT INTO team_members (merchant_id, user_id, role) VALUES
	('b0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'OWNER'),
	('b0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000002', 'MEMBER');
CREATE ROLE demo_app LOGIN;
GRANT billium_api, billium_admin TO demo_app;
SET ROLE demo_app;
-- Only the application's own bookkeeping: the demo keeps the keys it mints to present them later.
CREATE TEMP TABLE demo_keys (name text PRIMARY KEY, id uuid, api_key text);

\echo
\echo '== 9. The owner creates a narrowed secret key and a public key; the plaintext is returned once =='
BEGIN;
SELECT kind, user_id FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO demo_keys SELECT 'build server', id, api_key
	FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'sk', '{invoice:create,invoice:view}', 'build server');
INSERT INTO demo_keys SELECT 'checkout page', id, api_key
	FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'pk', '{invoice:create,invoice:view,product:view}', 'checkout page');
COMMIT;
SELECT d.name, length(d.api_key) AS key_length, billium_key_is_well_formed(d.api_key) AS well_formed,
       left(d.api_key, 3) AS prefix
FROM demo_keys d ORDER BY 1;

\echo
\echo '== 10. The build server creates an invoice: allowed =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'build server';
SELECT kind, key_type, permissions FROM billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
COMMIT;

\echo
\echo '== 11. ... but it may not list webhooks: 403 PERMISSION_DENIED =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'build server';
SELECT billium_authorize('webhooks.list', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;

\echo
\echo '== 12. The public key may create an invoice, but never list or cancel: 403 SECRET_KEY_REQUIRED =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
SELECT kind, key_type FROM billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
SELECT billium_authorize('invoices.cancel', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;

\echo
\echo '== 13. A key used against another merchant: 403 MERCHANT_MISMATCH =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'build server';
SELECT billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000002');
ROLLBACK;

\echo
\echo '== 14. No key, a mistyped key: 401, and the key is never echoed back =='
SELECT billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
BEGIN;
SET LOCAL billium.api_key = 'sk_this-is-not-a-key';
SELECT billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;

\echo
\echo '== 15. A member may not create keys, and an owner may not give a public key invoice:edit =='
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000002');
SELECT * FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'nope');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT * FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'pk', '{invoice:view,invoice:edit}', 'nope');
ROLLBACK;

\echo
\echo '== 16. The owner revokes the build server key; the next transaction refuses it: 401 API_KEY_REVOKED =='
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT billium_revoke_api_key(id) FROM demo_keys WHERE name = 'build server';
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'build server';
SELECT billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;

\echo
\echo '== 17. Why may a key do what it may? billium_explain_key walks the caps =='
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT step, name, permissions, removed FROM billium_explain_key((SELECT id FROM demo_keys WHERE name = 'checkout page'));
COMMIT;

\echo
\echo '== 18. Every refusal a backend can map without guessing (billium.errors) =='
SELECT code, http_status, sqlstate FROM errors;

\echo
\echo '== 19. Row-level security: with no principal, every table is empty, even to a query that forgot to ask =='
SELECT (SELECT count(*) FROM invoices) AS invoices, (SELECT count(*) FROM merchants) AS merchants,
       (SELECT count(*) FROM api_keys) AS api_keys;

\echo
\echo '== 20. The Acme owner issues two invoices; the Globex owner issues one =='
RESET ROLE;
INSERT INTO users (id, email) VALUES ('a0000000-0000-0000-0000-000000000003', 'owner@globex.test');
INSERT INTO team_members (merchant_id, user_id, role)
	VALUES ('b0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000003', 'OWNER');
-- What Acme's checkout sells (a public key's invoice names a product and pays its price).
INSERT INTO products (merchant_id, id, name, price, currency)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 'Acme: T-shirt', 2500, 'usd');
SET ROLE demo_app;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO invoices (merchant_id, amount, description) VALUES
	('b0000000-0000-0000-0000-000000000001', 1200, 'Acme: consulting'),
	('b0000000-0000-0000-0000-000000000001', 4500, 'Acme: licences');
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000003');
INSERT INTO invoices (merchant_id, amount, description) VALUES ('b0000000-0000-0000-0000-000000000002', 999, 'Globex: secret project');
COMMIT;

\echo
\echo '== 21. The public checkout key creates an invoice; it sees that one only, never the list =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
INSERT INTO invoices (merchant_id, product_id, description)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 'Acme: web checkout');
SELECT description, amount, created_by_key IS NOT NULL AS created_by_this_key FROM invoices;
COMMIT;

\echo
\echo '== 22. The Acme member sees Acme''s invoices and nothing of Globex; deleting is refused silently (0 rows) =='
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000002');
SELECT description, amount FROM invoices ORDER BY amount;
SELECT count(*) AS globex_rows_visible FROM invoices WHERE merchant_id = 'b0000000-0000-0000-0000-000000000002';
DELETE FROM invoices;
SELECT count(*) AS acme_invoices_still_there FROM invoices;
\echo '... and a member may not invite anyone: team:invite is not theirs'
INSERT INTO team_members (merchant_id, user_id, role)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000003', 'ADMIN');
ROLLBACK;

\echo
\echo '== 23. The owner opens a new merchant and reads the audit trail of Acme =='
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT billium_create_merchant('Acme Labs') IS NOT NULL AS opened;
SELECT m.name, t.role FROM merchants m JOIN team_members t ON t.merchant_id = m.id
	WHERE t.user_id = 'a0000000-0000-0000-0000-000000000001' ORDER BY 1;
SELECT category, action, principal_kind FROM audit_log
	WHERE merchant_id = 'b0000000-0000-0000-0000-000000000001' ORDER BY id;
COMMIT;

\echo
\echo '== 24. A table of the application''s own, protected with one call =='
RESET ROLE;
CREATE SCHEMA shop;
CREATE TABLE shop.orders (merchant_id uuid NOT NULL, id bigserial, total bigint,
	PRIMARY KEY (merchant_id, id));
GRANT USAGE ON SCHEMA shop TO demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.orders TO demo_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA shop TO demo_app;
SELECT billium_protect_table('shop.orders', 'invoice');
SELECT policy FROM billium_protect_policies('shop.orders');
SET ROLE demo_app;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
INSERT INTO shop.orders (merchant_id, total) VALUES ('b0000000-0000-0000-0000-000000000002', 10);
ROLLBACK;
RESET ROLE;

\echo
\echo '== 25. Dashboard sessions: a signed token (HS256) identifies the user of a transaction =='
RESET ROLE;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- billium.jwt_secret is a server-level setting: the demo cluster's postgresql.conf holds it
-- (scripts/lib.sh).  A real deployment's login service signs tokens with it; here a function
-- owned by the superuser stands in for that service, reading the secret where only it can.
CREATE FUNCTION public.demo_session(user_id uuid, expires_in interval DEFAULT '10 minutes',
		alg text DEFAULT 'HS256') RETURNS text LANGUAGE sql SECURITY DEFINER
		SET search_path = pg_catalog, billium, public AS $$
	WITH parts AS (
		SELECT rtrim(translate(encode(convert_to(jsonb_build_object('alg', alg, 'typ', 'JWT')::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
			|| '.' || rtrim(translate(encode(convert_to(jsonb_build_object('sub', user_id,
				'exp', extract(epoch FROM now() + expires_in)::bigint)::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS signed)
	SELECT signed || '.' || rtrim(translate(encode(hmac(signed, current_setting('billium.jwt_secret'), 'sha256'), 'base64'), E'+/\n', '-_'), '=')
	FROM parts
$$;
GRANT EXECUTE ON FUNCTION public.demo_session(uuid, interval, text) TO demo_app;
-- No session can set it, not even a superuser's, and no role or database can store it: where
-- ALTER ROLE ... SET would keep it, every role could read it.
SET billium.jwt_secret = 'demo-secret';
ALTER ROLE demo_app SET billium.jwt_secret = 'demo-secret';
SET ROLE demo_app;
SHOW billium.jwt_secret;   -- superuser-only: the application role can never read it
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002'), true) IS NOT NULL AS session_presented;
SELECT kind, user_id FROM billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
COMMIT;

\echo
\echo '== 26. Expired, unsigned (alg none) or forged tokens: 401, and the token is never echoed =='
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002', '-1 hour'), true) IS NOT NULL AS session_presented;
SELECT billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002', '1 hour', 'none'), true) IS NOT NULL AS session_presented;
SELECT billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;

\echo
\echo '== 27. The owner requires two-factor authentication; the member has not enabled it =='
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000001'), true) IS NOT NULL AS owner_session;
UPDATE merchants SET enforce_tfa = true WHERE id = 'b0000000-0000-0000-0000-000000000001';
COMMIT;
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002'), true) IS NOT NULL AS member_session;
SELECT billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002'), true) IS NOT NULL AS member_session;
SELECT count(*) AS acme_invoices_visible FROM invoices;
COMMIT;
\echo '... an API key of the same merchant is never subject to the requirement'
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
SELECT kind FROM billium_authorize('invoices.create', 'b0000000-0000-0000-0000-000000000001');
COMMIT;

\echo
\echo '== 28. The member enables 2FA; their next transaction gets through =='
RESET ROLE;
UPDATE users SET tfa_enabled = true WHERE id = 'a0000000-0000-0000-0000-000000000002';
SET ROLE demo_app;
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002'), true) IS NOT NULL AS member_session;
SELECT kind FROM billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
SELECT count(*) AS acme_invoices_visible FROM invoices;
COMMIT;

\echo
\echo '== 29. A key and a session in one transaction: refused =='
BEGIN;
SELECT set_config('billium.session', demo_session('a0000000-0000-0000-0000-000000000002'), true) IS NOT NULL AS member_session;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
SELECT billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;
RESET ROLE;

\echo
\echo '== 30. Rate limiting: all of Acme''s keys draw from one bucket; past it, 429 with retry_after_ms =='
-- The limiter needs billium in shared_preload_libraries (the demo cluster has it) and 0.5.0.
DO $$
BEGIN
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[] < '{0,5,0}' THEN
		ALTER EXTENSION billium UPDATE TO '0.5.0';
	END IF;
END
$$;
SELECT enabled, reason, scope FROM billium_rate_limit_status();
-- Acme's own limit: 1 request per second with a burst of 2.  The limiter's clock is frozen
-- (a superuser's setting meant for tests), so nothing refills until we move it.
UPDATE merchants SET rate_limit = 1, rate_burst = 2 WHERE id = 'b0000000-0000-0000-0000-000000000001';
SET billium.rate_limit_test_clock = '800000000000000';
SET ROLE demo_app;
-- A fresh secret key for the reporting job (the build server's was revoked above).
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO demo_keys SELECT 'reporting job', id, api_key
	FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'reporting job');
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'reporting job';
SELECT kind, key_type FROM billium_authorize('invoices.retrieve', 'b0000000-0000-0000-0000-000000000001');
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
SELECT kind, key_type FROM billium_authorize('invoices.retrieve', 'b0000000-0000-0000-0000-000000000001');
COMMIT;
\echo '... the third request, whichever key presents it, is refused:'
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'reporting job';
SELECT kind, key_type FROM billium_authorize('invoices.retrieve', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;
RESET ROLE;
SELECT enabled, reason, rate, burst, tokens, retry_after_ms
	FROM billium_rate_limit_status('b0000000-0000-0000-0000-000000000001');
\echo '... one second later, one more gets through:'
SET billium.rate_limit_test_clock = '800000001000000';
SET ROLE demo_app;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
SELECT kind, key_type FROM billium_authorize('invoices.retrieve', 'b0000000-0000-0000-0000-000000000001');
COMMIT;
RESET ROLE;
UPDATE merchants SET rate_limit = NULL, rate_burst = NULL WHERE id = 'b0000000-0000-0000-0000-000000000001';
RESET billium.rate_limit_test_clock;

\echo
\echo '== 31. The reporting job''s key leaks into a public repository; a secret scanner reports it: revoked at once =='
-- The scanning endpoint's login role holds billium_scanner: this one function, nothing else.
CREATE ROLE demo_scanner LOGIN;
GRANT billium_scanner TO demo_scanner;
-- (The demo's bookkeeping table stands in for what the scanner found.)
SET ROLE demo_app;
GRANT SELECT ON demo_keys TO demo_scanner;
SET ROLE demo_scanner;
SELECT left(r.token, 8) || '...' AS token, r.label
FROM billium_report_leaked_keys(
	ARRAY[(SELECT api_key FROM demo_keys WHERE name = 'reporting job'),   -- a live secret key
		  (SELECT api_key FROM demo_keys WHERE name = 'checkout page'),   -- a public key: public by design
		  'sk_live_looks_like_a_key_but_is_not'],                         -- noise: never looked up
	'https://github.com/acme/reports/blob/main/.env') AS r;
\echo '... the scanner may do nothing else:'
SELECT count(*) FROM api_keys;
RESET ROLE;
\echo '... the key listing shows when and where; the audit trail has the leak and the sighting, never the key:'
SELECT name, key_type, revoked_at IS NOT NULL AS revoked, leaked_at IS NOT NULL AS leaked, leak_source_url
FROM api_keys WHERE name IN ('reporting job', 'checkout page') ORDER BY name;
SELECT action, after->>'hint' AS hint, coalesce(after->>'leak_source_url', after->>'source_url') AS source_url
FROM audit_log WHERE action LIKE 'api_keys.leak%' ORDER BY id;
\echo '... and the next transaction presenting it is refused: 401 API_KEY_LEAKED'
SET ROLE demo_app;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'reporting job';
SELECT billium_authorize('invoices.retrieve', 'b0000000-0000-0000-0000-000000000001');
ROLLBACK;
RESET ROLE;

\echo
\echo '== 32. Rolling a key hands out its power: an ADMIN may not roll the owner''s {*} key (403 naming the excess) =='
-- Provisioning (as the superuser): an ADMIN joins Acme.
INSERT INTO users (id, email) VALUES ('a0000000-0000-0000-0000-000000000004', 'admin@acme.test');
INSERT INTO team_members (merchant_id, user_id, role)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000004', 'ADMIN');
SET ROLE demo_app;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO demo_keys SELECT 'owner all', id, api_key
	FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'owner all');
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000004');
SELECT id FROM billium_roll_api_key((SELECT id FROM demo_keys WHERE name = 'owner all'), '1 hour');
ROLLBACK;
\echo '... the owner may roll it, but the old key''s grace is at most billium.max_roll_grace (7 days):'
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT current_setting('billium.max_roll_grace') AS max_roll_grace;
SELECT id FROM billium_roll_api_key((SELECT id FROM demo_keys WHERE name = 'owner all'), '30 days');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO demo_keys SELECT 'owner all, rolled', id, api_key
	FROM billium_roll_api_key((SELECT id FROM demo_keys WHERE name = 'owner all'), '1 hour');
SELECT k.permissions = '{*}' AS same_grant, k.created_by AS creator, k.rolled_from = o.id AS rolled_from_old,
       k.rolled_by_user AS rolled_by
FROM api_keys k, demo_keys o, demo_keys n
WHERE o.name = 'owner all' AND n.name = 'owner all, rolled' AND k.id = n.id;
COMMIT;
RESET ROLE;

\echo
\echo '== 33. A CI pipeline''s key holds invoice:create alone: it gets back the invoice it creates, and sees nothing later =='
SET ROLE demo_app;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
INSERT INTO demo_keys SELECT 'ci pipeline', id, api_key
	FROM billium_create_api_key('b0000000-0000-0000-0000-000000000001', 'sk', '{invoice:create}', 'ci pipeline');
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'ci pipeline';
INSERT INTO invoices (merchant_id, amount, description)
	VALUES ('b0000000-0000-0000-0000-000000000001', 7000, 'Acme: nightly build') RETURNING amount, status, description;
SELECT count(*) AS invoices_it_sees_later FROM invoices;
COMMIT;

\echo
\echo '== 34. The public key tries to create a paid invoice, or to name its own price: 42501, nothing written =='
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
INSERT INTO invoices (merchant_id, product_id, status)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 'paid');
ROLLBACK;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'checkout page';
INSERT INTO invoices (merchant_id, product_id, amount)
	VALUES ('b0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 1);
ROLLBACK;
\echo '... nor may the owner''s session mark one paid: that is the payment side''s (billium_payments)'
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
UPDATE invoices SET status = 'paid' WHERE description = 'Acme: web checkout';
ROLLBACK;
RESET ROLE;

\echo
\echo '== 35. When was a key last used? Counted in shared memory, written by a background worker: no row per request =='
-- The demo cluster counts billium_demo (billium.usage_database) and writes every second.
SELECT tracking, reason, usage_database, flush_interval_s FROM billium_key_usage_status();
SET ROLE demo_app;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'owner all, rolled';
SELECT kind FROM billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', api_key, true) IS NOT NULL AS key_presented FROM demo_keys WHERE name = 'owner all, rolled';
SELECT kind FROM billium_authorize('invoices.list', 'b0000000-0000-0000-0000-000000000001');
COMMIT;
RESET ROLE;
\echo '... a moment later (one flush), the owner''s key listing says when each key was last used, and how often:'
SELECT pg_sleep(1.5 * flush_interval_s) FROM billium_key_usage_status() WHERE tracking;
SET ROLE demo_app;
BEGIN;
SELECT kind FROM billium_act_as('a0000000-0000-0000-0000-000000000001');
SELECT name, hint, revoked_at IS NOT NULL AS revoked,
       CASE WHEN last_used_at IS NULL THEN 'never'
            WHEN last_used_at > now() - interval '1 minute' THEN 'within the last minute'
            ELSE 'earlier' END AS last_used, request_count
FROM billium_key_usage('b0000000-0000-0000-0000-000000000001')
WHERE name IN ('owner all', 'checkout page', 'build server')
ORDER BY name, created_at;
COMMIT;
RESET ROLE;

\echo
\echo 'End of the walk-through.'
