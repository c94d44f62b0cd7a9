-- billium.request_id in the audit trail belongs to the transaction that set it (security review
-- of 0.6.0).  A value left on a connection by an earlier transaction (a session-level SET behind a
-- transaction pooler) is not written into the next transaction's audit rows: it would attribute
-- another client's changes to a request of the attacker's choosing.
CREATE ROLE regress_reqid_app;
GRANT billium_api TO regress_reqid_app;
SET search_path = billium, public;
\set VERBOSITY terse

SELECT merchant_id AS m FROM billium_test_merchant('request id', 'owner@request-id.test') \gset
SELECT billium_test_key(:'m', 'sk', '{*}') AS sk \gset

SET ROLE regress_reqid_app;
-- A session-level value, set in a transaction of its own, as a pooled client would leave it.
SET billium.request_id = 'forged-by-an-earlier-client';
BEGIN;
SELECT set_config('billium.api_key', :'sk', true) IS NOT NULL AS presented;
SELECT id IS NOT NULL AS made FROM billium_create_api_key(:'m', 'sk', '{invoice:view}', 'after a session SET');
COMMIT;
-- Set in the transaction itself, locally or not: written.
BEGIN;
SELECT set_config('billium.api_key', :'sk', true) IS NOT NULL AS presented;
SELECT set_config('billium.request_id', 'req-local.1', true) IS NOT NULL AS set;
SELECT id IS NOT NULL AS made FROM billium_create_api_key(:'m', 'sk', '{invoice:view}', 'after SET LOCAL');
COMMIT;
BEGIN;
SELECT set_config('billium.api_key', :'sk', true) IS NOT NULL AS presented;
SET billium.request_id = 'req-session-in-tx.2';
SELECT id IS NOT NULL AS made FROM billium_create_api_key(:'m', 'sk', '{invoice:view}', 'after SET in the transaction');
COMMIT;
-- The next transaction again finds only the value a previous one left: not written.
BEGIN;
SELECT set_config('billium.api_key', :'sk', true) IS NOT NULL AS presented;
SELECT id IS NOT NULL AS made FROM billium_create_api_key(:'m', 'sk', '{invoice:view}', 'in the next transaction');
COMMIT;
RESET billium.request_id;
RESET ROLE;

SELECT after->>'name' AS key_name, request_id FROM audit_log
WHERE merchant_id = :'m' AND action = 'api_keys.create' AND after->>'name' <> 'test' ORDER BY id;

DELETE FROM api_keys WHERE merchant_id = :'m';
DELETE FROM team_members WHERE merchant_id = :'m';
DELETE FROM merchants WHERE id = :'m';
DROP OWNED BY regress_reqid_app;
DROP ROLE regress_reqid_app;
