-- Server-owned columns, invoice status transitions and a public key's price (issue 12, item 6;
-- decision 5), and a create-only key getting back the row it inserted (issue 12, item 10;
-- decision 4).
--
-- Server-owned: id, created_at, created_by_user, created_by_key are set by the server on insert
-- and never change; merchant_id never changes.  A caller that supplies a different value is
-- refused with 42501 naming the column, and the refused write changes no row.  An invoice is
-- inserted 'open'; a caller may move it 'open' -> 'cancelled' only; 'paid' is set by the payment
-- side (billium_mark_invoice_paid, granted to billium_payments).  A pk key names a product: the
-- amount and currency are the product's.
--
-- A key holding X:create but not X:view gets back, through INSERT ... RETURNING, exactly the rows
-- that statement inserted, and no other row, then or later.
BEGIN;
SELECT plan(51);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser: merchant A with its OWNER and two products; merchant B with one
-- product and an invoice.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a6000000-0000-0000-0000-000000000001', 'server columns A'),
	('a6000000-0000-0000-0000-000000000002', 'server columns B');
INSERT INTO billium.users (id, email) VALUES
	('b6000000-0000-0000-0000-000000000001', 'owner-a@server-columns.test'),
	('b6000000-0000-0000-0000-000000000002', 'owner-b@server-columns.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a6000000-0000-0000-0000-000000000001', 'b6000000-0000-0000-0000-000000000001', 'OWNER'),
	('a6000000-0000-0000-0000-000000000002', 'b6000000-0000-0000-0000-000000000002', 'OWNER');
INSERT INTO billium.products (merchant_id, id, name, price, currency) VALUES
	('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 'A widget', 1500, 'eur'),
	('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a2', 'A gadget', 2500, 'usd'),
	('a6000000-0000-0000-0000-000000000002', 'e6000000-0000-0000-0000-0000000000b1', 'B secret', 9999, 'usd');
INSERT INTO billium.invoices (merchant_id, id, amount, description) VALUES
	('a6000000-0000-0000-0000-000000000002', 'e6100000-0000-0000-0000-0000000000b1', 999, 'B secret invoice');

CREATE ROLE tap_cols_app LOGIN;
GRANT billium_api, billium_admin TO tap_cols_app;
CREATE ROLE tap_cols_payments LOGIN;
GRANT billium_payments TO tap_cols_payments;

-- Every invoice, products, webhook and wallet row, as the superuser sees them (for "changed no row").
CREATE FUNCTION pg_temp.all_rows() RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
	SELECT md5(string_agg(t, ',' ORDER BY t)) FROM (
		SELECT i::text FROM billium.invoices i UNION ALL SELECT p::text FROM billium.products p
		UNION ALL SELECT w::text FROM billium.webhooks w UNION ALL SELECT w::text FROM billium.wallets w
		UNION ALL SELECT c::text FROM billium.customers c) AS s(t)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.all_rows() TO PUBLIC;

SET LOCAL ROLE tap_cols_app;
SET LOCAL search_path = public, billium;

-- refused(sql): 'ok', or the SQLSTATE and message; every write is undone either way, and a
-- refused one must leave every row as it was.
CREATE FUNCTION pg_temp.refused(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	before text := pg_temp.all_rows();
	st text; msg text;
BEGIN
	BEGIN
		EXECUTE sql;
		RAISE EXCEPTION USING ERRCODE = 'TST00', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	END;
	IF st = 'TST00' THEN
		RETURN 'ok';
	END IF;
	IF pg_temp.all_rows() IS DISTINCT FROM before THEN
		RETURN 'CHANGED ROWS: ' || st || ' ' || msg;
	END IF;
	RETURN st || ' ' || msg;
END
$$;

-- ret(sql): the first column of each row an INSERT/UPDATE ... RETURNING gives back, as text.
CREATE FUNCTION pg_temp.ret(sql text) RETURNS text[] LANGUAGE plpgsql AS $f$
DECLARE
	res text[];
BEGIN
	EXECUTE format('WITH r AS (%s) SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM r AS r(x)', sql) INTO res;
	RETURN res;
END
$f$;

-- The keys, minted by A's OWNER (billium_test_key: the grant exactly as given).
SELECT is((billium_act_as('b6000000-0000-0000-0000-000000000001')).user_id,
	'b6000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A');
CREATE TEMP TABLE keys (label text PRIMARY KEY, api_key text);
INSERT INTO keys VALUES
	('sk invoices', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}')),
	('pk', billium_test_key('a6000000-0000-0000-0000-000000000001', 'pk', '{invoice:create,invoice:view,product:view}')),
	('pk create only', billium_test_key('a6000000-0000-0000-0000-000000000001', 'pk', '{invoice:create}')),
	('sk invoice create', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{invoice:create}')),
	('sk product create', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{product:create}')),
	('sk webhook create', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{webhook:create}')),
	('sk wallet create', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{wallet:create}')),
	('sk all', billium_test_key('a6000000-0000-0000-0000-000000000001', 'sk', '{*}'));
CREATE FUNCTION pg_temp.as_key(label text) RETURNS void LANGUAGE sql AS $$
	SELECT null::void FROM billium_authenticate((SELECT api_key FROM keys k WHERE k.label = as_key.label))
$$;

------------------------------------------------------------------------------------------------
-- Item 6: server-owned columns on insert (an sk key with invoice:*).
------------------------------------------------------------------------------------------------

SELECT pg_temp.as_key('sk invoices');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, created_at)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, '2001-01-01')$$),
	'^42501 .*"created_at"', 'a back-dated created_at is refused (42501, naming the column)');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, id)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, 'e6100000-0000-0000-0000-0000000000f1')$$),
	'^42501 .*"id"', 'a caller-chosen id is refused');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, created_by_key)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, gen_random_uuid())$$),
	'^42501 .*"created_by_key"', 'another created_by_key is refused');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, created_by_user)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, 'b6000000-0000-0000-0000-000000000002')$$),
	'^42501 .*"created_by_user"', 'another created_by_user is refused');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, status)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, 'paid')$$),
	'^42501 .*"status"', 'an invoice inserted paid is refused');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount, status)
	VALUES ('a6000000-0000-0000-0000-000000000001', 10, 'cancelled')$$),
	'^42501 .*"status"', 'an invoice inserted cancelled is refused');
SELECT pg_temp.as_key('sk all');
SELECT matches(pg_temp.refused($$INSERT INTO products (merchant_id, name, created_at)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'x', '2001-01-01')$$),
	'^42501 .*"created_at"', 'products: a back-dated created_at is refused');
SELECT matches(pg_temp.refused($$INSERT INTO webhooks (merchant_id, url, id)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'https://x.test', gen_random_uuid())$$),
	'^42501 .*"id"', 'webhooks: a caller-chosen id is refused');
SELECT pg_temp.as_key('sk invoices');

-- What the server sets.
CREATE TEMP TABLE made AS
SELECT (r::billium.invoices).* FROM unnest(pg_temp.ret($$INSERT INTO invoices AS i (merchant_id, amount, status)
	VALUES ('a6000000-0000-0000-0000-000000000001', 42, 'open') RETURNING i$$)) AS r;
SELECT ok((SELECT id IS NOT NULL AND created_at = now() AND status = 'open' AND currency = 'usd'
				  AND created_by_key = (billium_current_principal()).key_id
				  AND created_by_user IS NULL FROM made),
	'an accepted insert: id, created_at and the creator come from the server; status open');

------------------------------------------------------------------------------------------------
-- Item 6: server-owned columns on update, and the status transitions.
------------------------------------------------------------------------------------------------

SELECT matches(pg_temp.refused(format($$UPDATE invoices SET created_by_user = 'b6000000-0000-0000-0000-000000000002' WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"created_by_user"', 'rewriting created_by_user is refused');
SELECT matches(pg_temp.refused(format($$UPDATE invoices SET created_by_key = NULL WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"created_by_key"', 'rewriting created_by_key is refused');
SELECT matches(pg_temp.refused(format($$UPDATE invoices SET created_at = '2001-01-01' WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"created_at"', 'rewriting created_at is refused');
SELECT matches(pg_temp.refused(format($$UPDATE invoices SET id = gen_random_uuid() WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"id"', 'rewriting id is refused');
SELECT matches(pg_temp.refused(format($$UPDATE invoices SET status = 'paid' WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"status"', 'an API caller cannot mark an invoice paid');
SELECT is(pg_temp.refused(format($$UPDATE invoices SET description = 'edited', amount = 43 WHERE id = %L$$, (SELECT id FROM made))),
	'ok', 'the caller''s own columns stay writable');
SELECT pg_temp.as_key('sk all');
SELECT matches(pg_temp.refused(format($$UPDATE products SET created_at = '2001-01-01' WHERE id = %L$$, 'e6000000-0000-0000-0000-0000000000a1')),
	'^42501 .*"created_at"', 'products: rewriting created_at is refused');
SELECT matches(pg_temp.refused(format($$UPDATE products SET merchant_id = 'a6000000-0000-0000-0000-000000000002' WHERE id = %L$$, 'e6000000-0000-0000-0000-0000000000a1')),
	'^42501 .*"merchant_id"', 'products: moving a row to another merchant is refused');
SELECT pg_temp.as_key('sk invoices');
SELECT is((pg_temp.ret($$UPDATE invoices SET status = 'cancelled' WHERE id = (SELECT id FROM made) RETURNING status$$))[1],
	'cancelled', 'open -> cancelled is allowed');
SELECT matches(pg_temp.refused(format($$UPDATE invoices SET status = 'open' WHERE id = %L$$, (SELECT id FROM made))),
	'^42501 .*"status"', 'cancelled -> open is refused');
SELECT is(pg_temp.refused(format($$UPDATE invoices SET status = 'cancelled' WHERE id = %L AND status <> 'paid'$$, (SELECT id FROM made))),
	'ok', 'cancelling a cancelled invoice again changes nothing and is not an error');

-- The payment side: billium_mark_invoice_paid, for billium_payments only.
SELECT matches(pg_temp.refused(format($$SELECT billium_mark_invoice_paid(%L)$$, (SELECT id FROM made))),
	'^42501 ', 'billium_api cannot call billium_mark_invoice_paid');
RESET ROLE;
INSERT INTO billium.invoices (merchant_id, id, amount) VALUES
	('a6000000-0000-0000-0000-000000000001', 'e6100000-0000-0000-0000-0000000000a9', 77);
SET LOCAL ROLE tap_cols_payments;
SELECT lives_ok($$SELECT billium.billium_mark_invoice_paid('e6100000-0000-0000-0000-0000000000a9')$$,
	'the payment role marks an open invoice paid');
SELECT throws_ok($$SELECT billium.billium_mark_invoice_paid('e6100000-0000-0000-0000-0000000000a9')$$,
	'55000', NULL, 'a paid invoice cannot be paid again');
RESET ROLE;
SELECT is((SELECT status FROM billium.invoices WHERE id = 'e6100000-0000-0000-0000-0000000000a9'),
	'paid', 'the invoice is paid');
SET LOCAL ROLE tap_cols_app;
SELECT pg_temp.as_key('sk invoices');
SELECT matches(pg_temp.refused($$UPDATE invoices SET status = 'cancelled' WHERE id = 'e6100000-0000-0000-0000-0000000000a9'$$),
	'^42501 .*"status"', 'paid -> cancelled is refused');

------------------------------------------------------------------------------------------------
-- Item 6: a pk key does not choose the price.
------------------------------------------------------------------------------------------------

SELECT pg_temp.as_key('pk');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, amount) VALUES ('a6000000-0000-0000-0000-000000000001', 1)$$),
	'^42501 .*"product_id"', 'a pk key must name a product');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, product_id, amount)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 1)$$),
	'^42501 .*"amount"', 'a pk key cannot set another amount than the product''s price');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, product_id, currency)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 'usd')$$),
	'^42501 .*"currency"', 'a pk key cannot set another currency than the product''s');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, product_id, status)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 'paid')$$),
	'^42501 .*"status"', 'a pk key cannot insert a paid invoice');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, product_id)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000b1')$$),
	'^23503 ', 'another merchant''s product is no product (23503)');
SELECT matches(pg_temp.refused($$INSERT INTO invoices (merchant_id, product_id)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000ff')$$),
	'^23503 ', 'an unknown product is refused (23503), as another merchant''s is');
SELECT is((pg_temp.ret($$INSERT INTO invoices (merchant_id, product_id, description)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 'bought') RETURNING row(amount, currency, status)::text$$))[1],
	'(1500,eur,open)', 'a pk key''s invoice takes the product''s price and currency');
SELECT is((pg_temp.ret($$INSERT INTO invoices (merchant_id, product_id, amount, currency)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a2', 2500, 'usd') RETURNING row(amount, currency)::text$$))[1],
	'(2500,usd)', 'a pk key may repeat the product''s own price');
SELECT pg_temp.as_key('sk invoices');
SELECT is((pg_temp.ret($$INSERT INTO invoices (merchant_id, product_id, amount)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1', 5) RETURNING row(amount, currency)::text$$))[1],
	'(5,eur)', 'an sk key chooses the amount freely; the currency defaults to the product''s');

------------------------------------------------------------------------------------------------
-- Item 10: a create-only key gets back the rows it inserted, in that statement only.
------------------------------------------------------------------------------------------------

SELECT pg_temp.as_key('sk invoice create');
CREATE TEMP TABLE created (tbl text, id uuid);
SELECT lives_ok($$WITH ins AS (INSERT INTO billium.invoices (merchant_id, amount, description)
	VALUES ('a6000000-0000-0000-0000-000000000001', 300, 'build server') RETURNING id)
	INSERT INTO created SELECT 'invoices', id FROM ins$$,
	'an sk key with only invoice:create: INSERT ... RETURNING succeeds');
SELECT is((SELECT count(*) FROM created WHERE tbl = 'invoices' AND id IS NOT NULL), 1::bigint,
	'and returns the inserted row');
SELECT is(cardinality(pg_temp.ret($$INSERT INTO billium.invoices (merchant_id, amount) VALUES
		('a6000000-0000-0000-0000-000000000001', 1), ('a6000000-0000-0000-0000-000000000001', 2) RETURNING id$$)), 2,
	'a multi-row INSERT ... RETURNING returns each inserted row');
SELECT is((SELECT count(*) FROM billium.invoices), 0::bigint,
	'a later SELECT sees none of them (nor any other invoice)');
SELECT is((SELECT count(*) FROM billium.invoices WHERE id = (SELECT id FROM created WHERE tbl = 'invoices')), 0::bigint,
	'not even by id');
CREATE TEMP TABLE seen (id uuid);
WITH ins AS (INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a6000000-0000-0000-0000-000000000001', 3) RETURNING id)
INSERT INTO seen SELECT i.id FROM billium.invoices i, ins;
SELECT is((SELECT count(*) FROM seen), 0::bigint,
	'in the same statement, a scan of the table sees no row');
SELECT is(pg_temp.refused($$UPDATE billium.invoices SET description = 'x' RETURNING id$$), 'ok',
	'an UPDATE ... RETURNING runs');
SELECT is(cardinality(pg_temp.ret($$UPDATE billium.invoices SET description = 'x' RETURNING id$$)),
	0, 'and touches no row');

SELECT pg_temp.as_key('pk create only');
SELECT is(cardinality(pg_temp.ret($$INSERT INTO billium.invoices (merchant_id, product_id)
	VALUES ('a6000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-0000000000a1') RETURNING id$$)),
	1, 'a pk key with only invoice:create gets its invoice back');
SELECT is((SELECT count(*) FROM billium.invoices), 0::bigint, 'and sees none later, its own included');

SELECT pg_temp.as_key('sk product create');
SELECT is(cardinality(pg_temp.ret($$INSERT INTO billium.products (merchant_id, name) VALUES ('a6000000-0000-0000-0000-000000000001', 'new') RETURNING id$$)),
	1, 'products: create-only INSERT ... RETURNING');
SELECT is((SELECT count(*) FROM billium.products), 0::bigint, 'products: nothing seen later');
SELECT pg_temp.as_key('sk webhook create');
SELECT is(cardinality(pg_temp.ret($$INSERT INTO billium.webhooks (merchant_id, url) VALUES ('a6000000-0000-0000-0000-000000000001', 'https://ci.test/hook') RETURNING id$$)),
	1, 'webhooks: create-only INSERT ... RETURNING');
SELECT is((SELECT count(*) FROM billium.webhooks), 0::bigint, 'webhooks: nothing seen later');
SELECT pg_temp.as_key('sk wallet create');
SELECT is(cardinality(pg_temp.ret($$INSERT INTO billium.wallets (merchant_id, address) VALUES ('a6000000-0000-0000-0000-000000000001', 'w-new') RETURNING id$$)),
	1, 'wallets: create-only INSERT ... RETURNING');
SELECT is((SELECT count(*) FROM billium.wallets), 0::bigint, 'wallets: nothing seen later');

SELECT * FROM finish();
ROLLBACK;
