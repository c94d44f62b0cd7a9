-- Key-scoped rate limiting (issue 6), with a clock the test controls: billium.rate_limit_test_clock
-- freezes the limiter's time, so every count below is exact.  The cluster preloads billium; the
-- settings stay off here (billium.rate_limit = 0), and merchants get their own limit through the
-- override columns of 0.5.0.  Reloaded settings, the key scope, eviction, no preload and eight
-- concurrent sessions are in test/suites/ratelimit.sh; two sessions sharing a bucket in
-- test/specs/ratelimit_shared.spec.
DO $$
BEGIN
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[] < '{0,5,0}' THEN
		ALTER EXTENSION billium UPDATE TO '0.5.0';
	END IF;
END
$$;
CREATE ROLE regress_rate_app;
GRANT billium_api TO regress_rate_app;
SET search_path = billium, public;
\set VERBOSITY default

-- The settings as they stand: off.
SELECT enabled, reason, scope, rate, burst, tokens, retry_after_ms FROM billium_rate_limit_status();

------------------------------------------------------------------------------------------------
-- Fixtures (superuser): merchants A and B, three keys of A (two sk, one pk), one of B, and a
-- VIEWER of A.  Nothing is printed that varies from run to run.
------------------------------------------------------------------------------------------------
SELECT merchant_id AS m_a, owner_id AS owner_a FROM billium_test_merchant('rate A', 'owner@rate-a.test') \gset
SELECT merchant_id AS m_b FROM billium_test_merchant('rate B', 'owner@rate-b.test') \gset
SELECT billium_test_key(:'m_a', 'sk', '{*}') AS sk_a \gset
SELECT billium_test_key(:'m_a', 'sk', '{invoice:view}') AS sk_a_invoices \gset
SELECT billium_test_key(:'m_a', 'pk', '{invoice:view}') AS pk_a \gset
SELECT billium_test_key(:'m_b', 'sk', '{*}') AS sk_b \gset
SELECT billium_test_member(:'m_a', 'viewer@rate-a.test', 'VIEWER') AS viewer_a \gset

-- Requests, each in its own transaction: how many passed, how many were refused with 429
-- (SQLSTATE 53400), and the last refusal's envelope.
CREATE PROCEDURE pg_temp.requests(key text, n int, INOUT passed int DEFAULT 0,
								  INOUT refused int DEFAULT 0, INOUT envelope text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		BEGIN
			PERFORM billium.billium_authenticate(key);
			passed := passed + 1;
		EXCEPTION WHEN SQLSTATE '53400' THEN
			refused := refused + 1;
			GET STACKED DIAGNOSTICS envelope = PG_EXCEPTION_DETAIL;
		END;
		COMMIT;
	END LOOP;
END
$$;

-- No limit applies yet: any number of requests pass, and no bucket is made.
SET billium.rate_limit_test_clock = '800000000000000';
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'sk_a', 20);
RESET ROLE;
SELECT enabled, reason, rate, burst, tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');

------------------------------------------------------------------------------------------------
-- A: 1 request per second, a burst of 5; B: 1 per second, a burst of 2.  The clock is frozen, so
-- nothing refills until the test moves it.
------------------------------------------------------------------------------------------------
UPDATE merchants SET rate_limit = 1, rate_burst = 5 WHERE id = :'m_a';
UPDATE merchants SET rate_limit = 1, rate_burst = 2 WHERE id = :'m_b';
SELECT enabled, reason, scope, rate, burst, tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');

SET ROLE regress_rate_app;
-- Every key of A draws from one bucket: 2 with the sk key, 2 with the pk key, 1 with the other sk.
CALL pg_temp.requests(:'sk_a', 2);
CALL pg_temp.requests(:'pk_a', 2);
CALL pg_temp.requests(:'sk_a_invoices', 1);
-- The sixth is refused, whichever key of A presents it, with the wait for the next token.
CALL pg_temp.requests(:'pk_a', 1);
CALL pg_temp.requests(:'sk_a', 3);
-- B has its own bucket: exactly 2 of 5.
CALL pg_temp.requests(:'sk_b', 5);
-- Through the gate, the envelope names the action.
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT kind FROM billium_authorize('invoices.list', :'m_a');
ROLLBACK;
RESET ROLE;
SELECT enabled, tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');

-- One second later, exactly one more request of A passes.
SET billium.rate_limit_test_clock = '800000001000000';
SELECT tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'pk_a', 3);
RESET ROLE;
-- Half a second more: still none, and the wait is what is left of the second.
SET billium.rate_limit_test_clock = '800000001500000';
SELECT tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'sk_a', 1);
RESET ROLE;
-- Ten seconds later the bucket is full again, and no fuller than its burst.
SET billium.rate_limit_test_clock = '800000011500000';
SELECT tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'sk_a', 7);
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Once per transaction, never once per row or per call; a rolled-back transaction still paid.
------------------------------------------------------------------------------------------------
SET billium.rate_limit_test_clock = '800000111500000';
SET ROLE regress_rate_app;
BEGIN;
SELECT count(*) AS authenticated_rows FROM (SELECT billium_authenticate(:'sk_a') FROM generate_series(1, 10)) AS s;
SELECT kind FROM billium_authorize('invoices.list', :'m_a');
SELECT count(*) AS authorized_rows FROM generate_series(1, 10) AS g, billium_authorize('invoices.list', :'m_a') AS p;
SET LOCAL billium.api_key = :'pk_a';
SELECT kind FROM billium_authorize('invoices.retrieve', :'m_a');
COMMIT;
BEGIN;
SELECT kind FROM billium_authenticate(:'sk_a');
ROLLBACK;
RESET ROLE;
SELECT tokens AS two_transactions_later FROM billium_rate_limit_status(:'m_a');

-- Dashboard sessions are not limited here.
BEGIN;
SELECT kind FROM billium_act_as(:'owner_a');
SELECT kind FROM billium_authorize('invoices.list', :'m_a');
COMMIT;
SELECT tokens AS after_a_dashboard_session FROM billium_rate_limit_status(:'m_a');

------------------------------------------------------------------------------------------------
-- The override's changes take effect at commit: 0 is "not limited", null is the setting (off).
------------------------------------------------------------------------------------------------
UPDATE merchants SET rate_limit = 0 WHERE id = :'m_b';
SELECT enabled, reason, tokens FROM billium_rate_limit_status(:'m_b');
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'sk_b', 10);
RESET ROLE;
UPDATE merchants SET rate_limit = NULL, rate_burst = NULL WHERE id = :'m_b';
SELECT enabled, reason, burst, tokens FROM billium_rate_limit_status(:'m_b');
-- A lowered burst applies at once, and never leaves more owed than an empty bucket.
UPDATE merchants SET rate_limit = 0.5, rate_burst = 1 WHERE id = :'m_b';
SELECT rate, burst, tokens, retry_after_ms FROM billium_rate_limit_status(:'m_b');
SET ROLE regress_rate_app;
CALL pg_temp.requests(:'sk_b', 3);
RESET ROLE;
-- Only a superuser (or the extension's owner) sets a merchant's limit: billium_api's UPDATE
-- grant on merchants does not name these columns.
SET ROLE regress_rate_app;
UPDATE merchants SET rate_limit = 1000 WHERE id = :'m_a';
RESET ROLE;
-- Out of range.
\set VERBOSITY terse
UPDATE merchants SET rate_limit = -1 WHERE id = :'m_a';
UPDATE merchants SET rate_burst = 0 WHERE id = :'m_a';
\set VERBOSITY default

------------------------------------------------------------------------------------------------
-- Who may see a bucket: superusers, and callers with merchant:view on that merchant.  A key that
-- asks is a request like any other: its transaction pays (here, the sk key's and the
-- invoice-only key's, which is then refused with 403).
------------------------------------------------------------------------------------------------
SET billium.rate_limit_test_clock = '800001000000000';
SET ROLE regress_rate_app;
SELECT enabled, reason FROM billium_rate_limit_status();
SELECT enabled FROM billium_rate_limit_status(:'m_a');
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT enabled, tokens, retry_after_ms FROM billium_rate_limit_status(:'m_a');
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'sk_a_invoices';
SELECT enabled FROM billium_rate_limit_status(:'m_a');
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'sk_b';
SELECT enabled FROM billium_rate_limit_status(:'m_a');
ROLLBACK;
RESET ROLE;
BEGIN;
SELECT kind FROM billium_act_as(:'viewer_a');
SET LOCAL ROLE regress_rate_app;
SELECT enabled, tokens FROM billium_rate_limit_status(:'m_a');
SELECT enabled FROM billium_rate_limit_status(:'m_b');
ROLLBACK;
-- PUBLIC may not call it.
CREATE ROLE regress_rate_nobody;
SET ROLE regress_rate_nobody;
SELECT enabled FROM billium.billium_rate_limit_status();
RESET ROLE;

-- The test clock is a superuser's setting, hidden from SHOW ALL.
SET ROLE regress_rate_app;
SET billium.rate_limit_test_clock = '1';
RESET ROLE;
SET billium.rate_limit_test_clock = 'soon';
SELECT count(*) AS shown FROM pg_settings WHERE name = 'billium.rate_limit_test_clock';
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'billium.rate%' ORDER BY name;
RESET billium.rate_limit_test_clock;

DROP ROLE regress_rate_nobody;
DROP OWNED BY regress_rate_app;
DROP ROLE regress_rate_app;
