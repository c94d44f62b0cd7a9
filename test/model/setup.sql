-- The model's starting state, loaded once into a template database as a superuser; every
-- sequence then runs in a fresh copy (CREATE DATABASE ... TEMPLATE), so a sequence replays exactly.
-- The model (model.js) is built from model_fixture's ids and its own reading of what is made here.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE public.model_fixture (k text PRIMARY KEY, v text NOT NULL);
REVOKE ALL ON public.model_fixture FROM PUBLIC;

SELECT merchant_id AS a, owner_id AS owner_a FROM billium.billium_test_merchant('Model A', 'owner@a.test') \gset
SELECT merchant_id AS b, owner_id AS owner_b FROM billium.billium_test_merchant('Model B', 'owner@b.test') \gset
SELECT billium.billium_test_member(:'a', 'admin@a.test', 'ADMIN') AS admin_a \gset
SELECT billium.billium_test_member(:'a', 'member@a.test', 'MEMBER') AS member_a \gset
SELECT billium.billium_test_member(:'a', 'viewer@a.test', 'VIEWER') AS viewer_a \gset
SELECT billium.billium_test_member(:'b', 'member@b.test', 'MEMBER') AS member_b \gset
SELECT billium.billium_test_user('outsider@x.test') AS outsider \gset

-- Keys, each made by its merchant's OWNER.
SELECT billium.billium_test_key(:'a', 'sk', '{*}') AS sk_a \gset
SELECT billium.billium_test_key(:'a', 'pk', '{invoice:create,invoice:view,product:view}') AS pk_a \gset
SELECT billium.billium_test_key(:'b', 'sk', '{*}') AS sk_b \gset

INSERT INTO public.model_fixture
SELECT k, v FROM (VALUES ('a', :'a'), ('b', :'b'), ('owner_a', :'owner_a'), ('admin_a', :'admin_a'),
	('member_a', :'member_a'), ('viewer_a', :'viewer_a'), ('owner_b', :'owner_b'), ('member_b', :'member_b'),
	('outsider', :'outsider'), ('sk_a', :'sk_a'), ('pk_a', :'pk_a'), ('sk_b', :'sk_b'),
	('unknown', billium.billium_key_generate('sk'))) AS f(k, v);
INSERT INTO public.model_fixture
SELECT f.k || '_id', k.id::text FROM public.model_fixture f
JOIN billium.api_keys k ON k.key_hash = sha256(convert_to(f.v, 'UTF8'))
WHERE f.k IN ('sk_a', 'pk_a', 'sk_b');

-- Rows of each merchant.  No principal: a superuser's rows keep the creator they are given.
INSERT INTO billium.products (merchant_id, name, price) VALUES (:'a', 'A shirt', 2500), (:'a', 'A mug', 900),
	(:'b', 'B shirt', 3100);
INSERT INTO billium.invoices (merchant_id, amount, created_by_key, status) VALUES
	(:'a', 100, NULL, 'open'), (:'a', 200, NULL, 'paid'),
	(:'a', 300, (SELECT v::uuid FROM public.model_fixture WHERE k = 'pk_a_id'), 'open'),
	(:'b', 400, NULL, 'open');
INSERT INTO billium.customers (merchant_id, name) VALUES (:'a', 'Ada'), (:'b', 'Bea');
INSERT INTO billium.webhooks (merchant_id, url) VALUES (:'a', 'https://a.test/hook'), (:'b', 'https://b.test/hook');
INSERT INTO billium.wallets (merchant_id, address) VALUES (:'a', 'wallet-a'), (:'b', 'wallet-b');
INSERT INTO billium.checkout_settings (merchant_id) VALUES (:'a'), (:'b');
INSERT INTO billium.merchant_billing (merchant_id) VALUES (:'a'), (:'b');

-- Every key's verdict in one statement, as the calling role (its own backend's cache included).
CREATE FUNCTION public.model_verify(keys text[]) RETURNS TABLE (i integer, perms text, code text)
	LANGUAGE plpgsql AS $$
DECLARE
	k text;
	n integer := 0;
	p billium.billium_key_principal;
	d text;
	s text;
BEGIN
	FOREACH k IN ARRAY keys LOOP
		n := n + 1;
		BEGIN
			p := billium.billium_key_verify(k);
			i := n; perms := p.permissions::text; code := NULL;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, s = RETURNED_SQLSTATE;
			i := n; perms := NULL;
			BEGIN
				code := coalesce(d::jsonb ->> 'code', s);
			EXCEPTION WHEN OTHERS THEN
				code := s;
			END;
		END;
		RETURN NEXT;
	END LOOP;
END
$$;
