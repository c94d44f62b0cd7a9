-- A security review of 0.6.0's new surface (docs/security.md): each test is an attack by an
-- ordinary role (billium_api, billium_scanner, billium_payments, billium_provisioner, a login role
-- with nothing) that must not get more than the role holds.  Findings the review fixed are marked
-- so; the rest are refusals no other file asserts.
BEGIN;
SELECT plan(24);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser: merchants A and B, each with its OWNER and an sk key with every
-- permission; A has a key holding only api_key:view.
------------------------------------------------------------------------------------------------
INSERT INTO billium.merchants (id, name) VALUES
	('a0600000-0000-0000-0000-00000000000a', 'attacks A'),
	('a0600000-0000-0000-0000-00000000000b', 'attacks B');
INSERT INTO billium.users (id, email) VALUES
	('b0600000-0000-0000-0000-00000000000a', 'owner-a@attacks.test'),
	('b0600000-0000-0000-0000-00000000000b', 'owner-b@attacks.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0600000-0000-0000-0000-00000000000a', 'b0600000-0000-0000-0000-00000000000a', 'OWNER'),
	('a0600000-0000-0000-0000-00000000000b', 'b0600000-0000-0000-0000-00000000000b', 'OWNER');
SELECT billium.billium_test_key('a0600000-0000-0000-0000-00000000000a', 'sk', '{*}') AS key_a \gset
SELECT billium.billium_test_key('a0600000-0000-0000-0000-00000000000a', 'sk', '{api_key:view}') AS key_a_view \gset
SELECT billium.billium_test_key('a0600000-0000-0000-0000-00000000000b', 'sk', '{*}') AS key_b \gset
SELECT id AS key_b_id FROM billium.api_keys WHERE merchant_id = 'a0600000-0000-0000-0000-00000000000b' \gset
SELECT billium.billium_test_key('a0600000-0000-0000-0000-00000000000a', 'sk', '{invoice:create}') AS key_a_create \gset
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES
	('a0600000-0000-0000-0000-00000000000a', 100, 'stored A');

CREATE ROLE tap_atk_app;
GRANT billium_api TO tap_atk_app;
CREATE ROLE tap_atk_scanner;
GRANT billium_scanner TO tap_atk_scanner;
CREATE ROLE tap_atk_payments;
GRANT billium_payments TO tap_atk_payments;
CREATE ROLE tap_atk_signup;
GRANT billium_provisioner TO tap_atk_signup;
CREATE ROLE tap_atk_nobody;

-- The SQLSTATE a statement raises, or null.
CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Finding: billium.request_id refused only a value that *began* with sk_ or pk_, so a key behind
-- any prefix ('x-sk_...', 'task_sk_...') was accepted and copied into audit_log.request_id, where
-- everyone with api_key:view or team:view on the merchant reads it.
------------------------------------------------------------------------------------------------
SET LOCAL ROLE tap_atk_app;
SELECT is(pg_temp.sqlstate_of(format($$SELECT set_config('billium.request_id', %L, true)$$, 'X' || :'key_a')),
	'22023', 'a request id holding a key behind a prefix is refused');
SELECT is(pg_temp.sqlstate_of(format($$SELECT set_config('billium.request_id', %L, true)$$, 'task_' || :'key_a' || ':1')),
	'22023', 'so is one holding a key in the middle');
SELECT is(pg_temp.sqlstate_of(format($$SELECT set_config('billium.request_id', %L, true)$$, 'req:' || left(:'key_a', 40))),
	'22023', 'and one holding a key''s first 40 characters');
SELECT is(pg_temp.sqlstate_of($$SELECT set_config('billium.request_id', 'task_42-desk_7.pk_x', true)$$),
	NULL, 'a request id with sk_ or pk_ followed by few characters is accepted');

------------------------------------------------------------------------------------------------
-- Held: the internal functions are nobody's but the extension's.
------------------------------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(format($$SELECT billium.billium_revoke_key_descendants(%L)$$, :'key_b_id')),
	'42501', 'billium_api cannot call billium_revoke_key_descendants');
SELECT is(pg_temp.sqlstate_of($$SELECT billium.billium_audit('a0600000-0000-0000-0000-00000000000a', 'team', 'team.invite', NULL, '{}')$$),
	'42501', 'nor forge an audit row through billium_audit');
SELECT is(pg_temp.sqlstate_of($$INSERT INTO billium.audit_log (merchant_id, category, action) VALUES ('a0600000-0000-0000-0000-00000000000a', 'team', 'team.invite')$$),
	'42501', 'nor insert into audit_log');
SELECT is(pg_temp.sqlstate_of($$UPDATE billium.policy_rules SET permission = 'invoice:view'$$),
	'42501', 'nor change policy_rules');
SELECT is(pg_temp.sqlstate_of($$SELECT billium.billium_mark_invoice_paid(gen_random_uuid())$$),
	'42501', 'nor mark an invoice paid');

------------------------------------------------------------------------------------------------
-- Held: one merchant's key learns nothing of another's through the new functions.
------------------------------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(format($$SELECT billium.billium_gate(%L, 'invoices.list', 'a0600000-0000-0000-0000-00000000000b')$$, :'key_a')),
	'42501', 'billium_gate refuses a key for another merchant');
SELECT set_config('billium.api_key', :'key_a_view', true) IS NOT NULL AS set \gset
SELECT is((SELECT count(*) FROM billium.billium_key_usage('a0600000-0000-0000-0000-00000000000b')), 0::bigint,
	'billium_key_usage lists no key of another merchant');
SELECT is((SELECT count(*) FROM billium.billium_key_usage() WHERE merchant_id <> 'a0600000-0000-0000-0000-00000000000a'), 0::bigint,
	'nor does it without a merchant');
SELECT is(pg_temp.sqlstate_of($$SELECT billium.billium_rate_limit_status('a0600000-0000-0000-0000-00000000000b')$$),
	'42501', 'billium_rate_limit_status refuses another merchant''s bucket');
SELECT is(pg_temp.sqlstate_of($$SELECT billium.billium_transfer_ownership('a0600000-0000-0000-0000-00000000000a', 'b0600000-0000-0000-0000-00000000000b')$$),
	'42501', 'a key cannot transfer ownership');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Held: a create-only key (invoice:create) gets back its insert and no stored row, whatever
-- shape the statement takes.
------------------------------------------------------------------------------------------------
SET LOCAL ROLE tap_atk_app;
SELECT set_config('billium.api_key', :'key_a_create', true) IS NOT NULL AS set \gset
WITH made AS (INSERT INTO billium.invoices (merchant_id, amount, description)
			  VALUES ('a0600000-0000-0000-0000-00000000000a', 7, 'cte')
			  RETURNING description, (SELECT count(*) FROM billium.invoices) AS stored_in_returning)
SELECT is((SELECT row(count(*), max(stored_in_returning), (SELECT count(*) FROM billium.invoices))::text FROM made),
	'(1,0,0)', 'a CTE gets back its insert; a subquery of RETURNING and a scan in the same statement see no stored row');
SELECT is(pg_temp.sqlstate_of($$INSERT INTO billium.invoices (merchant_id, amount, description)
	VALUES ('a0600000-0000-0000-0000-00000000000a', 1, (SELECT i.description FROM billium.invoices i WHERE i.description = 'stored A'))$$),
	'23502', 'a subquery in VALUES reads no stored row (the description stays null)');
WITH copied AS (INSERT INTO billium.invoices (merchant_id, amount, description)
				SELECT 'a0600000-0000-0000-0000-00000000000a', 1, 'copy of ' || i.description FROM billium.invoices i
				RETURNING 1)
SELECT is((SELECT count(*) FROM copied), 0::bigint, 'INSERT ... SELECT from the table finds no stored row to copy');
SELECT is((SELECT count(*) FROM (SELECT 1 FROM billium.invoices) s), 0::bigint,
	'and a later SELECT sees nothing');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Held: the scanner, the payment side and the sign-up service hold only their one function.
------------------------------------------------------------------------------------------------
SET LOCAL ROLE tap_atk_scanner;
SELECT is(pg_temp.sqlstate_of(format($$SELECT billium.billium_revoke_api_key(%L)$$, :'key_b_id')),
	'42501', 'billium_scanner cannot revoke a key by id, without its token');
SELECT is(pg_temp.sqlstate_of($$SELECT count(*) FROM billium.api_keys$$),
	'42501', 'nor read the keys');
RESET ROLE;
SET LOCAL ROLE tap_atk_payments;
SELECT is(pg_temp.sqlstate_of($$UPDATE billium.invoices SET amount = 1$$),
	'42501', 'billium_payments cannot write invoices but through billium_mark_invoice_paid');
RESET ROLE;
SET LOCAL ROLE tap_atk_signup;
SELECT is(pg_temp.sqlstate_of($$INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES ('a0600000-0000-0000-0000-00000000000a', 'b0600000-0000-0000-0000-00000000000b', 'OWNER')$$),
	'42501', 'billium_provisioner cannot put a user on a team');
RESET ROLE;
SET LOCAL ROLE tap_atk_nobody;
SELECT is(pg_temp.sqlstate_of(format($$SELECT billium.billium_gate(%L, 'invoices.list')$$, :'key_a')),
	'42501', 'a role with nothing cannot call billium_gate');
SELECT is(pg_temp.sqlstate_of($$SELECT billium.billium_check_secret_settings()$$),
	'42501', 'nor list where secrets are stored');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
