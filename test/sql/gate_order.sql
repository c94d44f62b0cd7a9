-- The gate's order (who is calling, then the rate limit, then the permission) and its ways in:
--   1. billium_gate(api_key, action, merchant_id): billium_authenticate and billium_authorize in
--      one call, with the same verdicts and envelopes as the two calls;
--   2. every way in is charged to the rate limit once per transaction and bucket, including a
--      request that only ever meets the row-level security policies (PostgREST, plain SQL),
--      billium_current_principal, and billium_gate next to billium_authorize.
-- The cluster preloads billium; the limiter's clock is frozen (billium.rate_limit_test_clock), so
-- every count is exact.
CREATE ROLE regress_gate_app;
GRANT billium_api TO regress_gate_app;
SET search_path = billium, public;
\set VERBOSITY default

SELECT merchant_id AS m_a FROM billium_test_merchant('gate A', 'owner@gate-a.test') \gset
SELECT merchant_id AS m_b FROM billium_test_merchant('gate B', 'owner@gate-b.test') \gset
SELECT billium_test_key(:'m_a', 'sk', '{*}') AS sk_a \gset
SELECT billium_test_key(:'m_a', 'sk', '{product:view}') AS sk_a_products \gset
SELECT billium_test_key(:'m_a', 'pk', '{invoice:view}') AS pk_a \gset
SELECT billium_test_key(:'m_b', 'sk', '{*}') AS sk_b \gset

------------------------------------------------------------------------------------------------
-- 1. billium_gate: one call, the same verdicts.
------------------------------------------------------------------------------------------------
SET ROLE regress_gate_app;
SELECT kind, key_type, merchant_id = :'m_a' AS own_merchant,
	   permissions = billium_key_type_cap('sk') AS permissions
  FROM billium_gate(:'sk_a', 'invoices.list', :'m_a');
-- It is the transaction's principal afterwards, as billium_authenticate makes it.
BEGIN;
SELECT kind FROM billium_gate(:'pk_a', 'invoices.retrieve', :'m_a');
SELECT key_type FROM billium_current_principal();
COMMIT;
-- Without a merchant, as billium_authorize: the key's own.
SELECT kind FROM billium_gate(:'sk_a', 'products.list');
-- The refusals, each naming the action.
SELECT kind FROM billium_gate(:'sk_b', 'invoices.list', :'m_a');
SELECT kind FROM billium_gate(:'sk_a_products', 'invoices.list', :'m_a');
SELECT kind FROM billium_gate(:'pk_a', 'invoices.list', :'m_a');
SELECT kind FROM billium_gate('sk_not_a_key', 'invoices.list', :'m_a');
-- No key is no key: never a null principal a backend could take for a pass.
SELECT kind FROM billium_gate(NULL, 'invoices.list', :'m_a');
SELECT kind FROM billium_gate('', 'invoices.list', :'m_a');
\set VERBOSITY terse
SELECT kind FROM billium_gate(:'sk_a', 'invoices.frobnicate', :'m_a');
SELECT kind FROM billium_gate(:'sk_a', NULL, :'m_a');
\set VERBOSITY default
RESET ROLE;
-- PUBLIC may not call it.
CREATE ROLE regress_gate_nobody;
SET ROLE regress_gate_nobody;
SELECT kind FROM billium.billium_gate(:'sk_a', 'invoices.list', :'m_a');
RESET ROLE;
DROP ROLE regress_gate_nobody;

------------------------------------------------------------------------------------------------
-- 2. Every way in is charged once per transaction and bucket.  A: 1 request per second, a burst
-- of 4; the clock does not move, so each transaction below takes one token for good.
------------------------------------------------------------------------------------------------
UPDATE merchants SET rate_limit = 1, rate_burst = 4 WHERE id = :'m_a';
SET billium.rate_limit_test_clock = '900000000000000';
SELECT tokens AS full_bucket FROM billium_rate_limit_status(:'m_a');

SET ROLE regress_gate_app;
-- Row-level security alone (no gate, no billium_authenticate): three statements, one token.
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT count(*) AS invoices FROM invoices;
SELECT count(*) AS products FROM products;
SELECT count(*) AS invoices_again FROM invoices;
COMMIT;
RESET ROLE;
SELECT tokens AS after_rls_only FROM billium_rate_limit_status(:'m_a');

SET ROLE regress_gate_app;
-- billium_gate and billium_authorize in one transaction: one token.
BEGIN;
SELECT kind FROM billium_gate(:'sk_a', 'invoices.list', :'m_a');
SELECT kind FROM billium_authorize('invoices.list', :'m_a');
SELECT count(*) AS invoices FROM invoices;
COMMIT;
-- billium_current_principal alone: one token.
BEGIN;
SET LOCAL billium.api_key = :'pk_a';
SELECT key_type FROM billium_current_principal();
SELECT key_type FROM billium_current_principal();
COMMIT;
RESET ROLE;
SELECT tokens AS after_three_transactions FROM billium_rate_limit_status(:'m_a');

SET ROLE regress_gate_app;
-- The fourth transaction takes the last token; the fifth is refused with 429 by the policies'
-- first statement, and the sixth by billium_gate, naming its action.
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT count(*) AS invoices FROM invoices;
COMMIT;
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT count(*) AS invoices FROM invoices;
ROLLBACK;
SELECT kind FROM billium_gate(:'sk_a', 'invoices.list', :'m_a');
-- B's bucket is its own (B has no limit of its own and the setting is off).
SELECT kind FROM billium_gate(:'sk_b', 'invoices.list', :'m_b');
RESET ROLE;
SELECT tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');
RESET billium.rate_limit_test_clock;

DROP OWNED BY regress_gate_app;
DROP ROLE regress_gate_app;
