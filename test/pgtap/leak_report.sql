-- Leaked keys reported by a secret scanner (issue 17): billium_report_leaked_keys(tokens,
-- source_url), callable by billium_scanner only.
--
--   1. privileges: only billium_scanner may call it; billium_scanner itself holds nothing more
--      than PUBLIC does (no table, no other function)
--   2. every state of a token, in one report: a live sk key, an expired one, one already revoked,
--      a pk key, a malformed token, one whose checksum is wrong, and a well-formed unknown one; the
--      answer per token, in order
--   3. malformed and checksum-bad tokens are never looked up: a key row whose hash is theirs
--      (written by hand, as no generated key could have it) is left alone
--   4. the key rows: sk keys revoked with when and where (leaked_at, leak_source_url), the
--      revoked one unchanged, the pk key untouched
--   5. the audit trail: a leak row per revoked key with the source URL, a sighting row for the pk
--      and the already revoked key, and no column anywhere holding a token
--   6. the same report again: the same answer, nothing changed
--   4b. the keys the leaked key minted (children, grandchildren) are revoked with it, as a revoke
--      revokes them (issue 12, decision 2), each audited; they are not marked leaked themselves
--   7. verification: a leaked key is refused with API_KEY_LEAKED (a key revoked by hand still
--      with API_KEY_REVOKED); the key listing (billium_api) shows when and where
--
-- Calls are made as an ordinary login role granted billium_scanner only.
BEGIN;
DO $$
DECLARE
	newest text := (SELECT version FROM pg_available_extension_versions WHERE name = 'billium'
					ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1);
BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') <> newest THEN
		EXECUTE format('ALTER EXTENSION billium UPDATE TO %L', newest);
	END IF;
END
$$;
SELECT plan(48);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.
------------------------------------------------------------------------------------------------

SELECT merchant_id AS m, owner_id AS owner FROM billium.billium_test_merchant('Leak Co', 'owner@leak.test') \gset
SELECT billium.billium_test_key(:'m', 'sk', '{invoice:*}') AS live \gset
SELECT billium.billium_test_key(:'m', 'sk', '{invoice:view}') AS expired \gset
SELECT billium.billium_test_key(:'m', 'sk', '{invoice:view}') AS revoked \gset
SELECT billium.billium_test_key(:'m', 'pk', '{invoice:create}') AS pk \gset
SELECT billium.billium_key_generate('sk') AS unknown \gset
-- The live key with its last checksum character changed: one character off.
SELECT left(:'live', 98) || CASE WHEN right(:'live', 1) = 'A' THEN 'B' ELSE 'A' END AS bad_checksum \gset
SELECT 'sk_not_a_key' AS malformed \gset
SELECT 'https://github.com/octo/leaky/blob/main/.env' AS url \gset

-- A key minted by the live key, and one minted by that one.
SELECT billium.billium_test_key(:'m', 'sk', '{invoice:view}') AS child \gset
SELECT billium.billium_test_key(:'m', 'sk', '{invoice:view}') AS grandchild \gset
UPDATE billium.api_keys SET created_by_key = (SELECT id FROM billium.api_keys WHERE key_hash = sha256(convert_to(:'live', 'UTF8')))
WHERE key_hash = sha256(convert_to(:'child', 'UTF8'));
UPDATE billium.api_keys SET created_by_key = (SELECT id FROM billium.api_keys WHERE key_hash = sha256(convert_to(:'child', 'UTF8')))
WHERE key_hash = sha256(convert_to(:'grandchild', 'UTF8'));

UPDATE billium.api_keys SET expires_at = now() - interval '1 day'
WHERE key_hash = sha256(convert_to(:'expired', 'UTF8'));
UPDATE billium.api_keys SET revoked_at = '2026-01-01 00:00:00+00'
WHERE key_hash = sha256(convert_to(:'revoked', 'UTF8'));
-- Rows whose hashes are those of the malformed and checksum-bad tokens: a lookup would find them.
INSERT INTO billium.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
VALUES (:'m', 'sk', 'decoy bad checksum', 'sk_...', sha256(convert_to(:'bad_checksum', 'UTF8')), '{}', :'owner'),
	   (:'m', 'sk', 'decoy malformed', 'sk_...', sha256(convert_to(:'malformed', 'UTF8')), '{}', :'owner');

CREATE TEMP TABLE keys_before AS SELECT * FROM billium.api_keys WHERE merchant_id = :'m';
CREATE TEMP TABLE fx (token text);
INSERT INTO fx VALUES (:'live'), (:'expired'), (:'revoked'), (:'pk'), (:'unknown'), (:'bad_checksum'), (:'malformed');
GRANT SELECT ON keys_before, fx TO PUBLIC;

CREATE ROLE tap_scanner LOGIN;
GRANT billium_scanner TO tap_scanner;
CREATE ROLE tap_app LOGIN;
GRANT billium_api TO tap_app;

------------------------------------------------------------------------------------------------
-- 1. Privileges.
------------------------------------------------------------------------------------------------

SELECT has_function('billium', 'billium_report_leaked_keys', ARRAY['text[]', 'text'],
	'billium_report_leaked_keys(text[], text) exists');
SELECT is(pg_get_function_result('billium.billium_report_leaked_keys(text[], text)'::regprocedure),
	'TABLE(token text, label text)', 'it returns TABLE (token text, label text)');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'billium.billium_report_leaked_keys(text[], text)'::regprocedure),
	true, 'it is SECURITY DEFINER');
SELECT ok((SELECT proconfig::text LIKE '%search_path=pg_catalog, pg_temp%' FROM pg_proc
	WHERE oid = 'billium.billium_report_leaked_keys(text[], text)'::regprocedure), 'its search_path is pinned');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'billium_scanner'), false,
	'billium_scanner exists and cannot log in');
SELECT ok(has_function_privilege('billium_scanner', 'billium.billium_report_leaked_keys(text[], text)', 'EXECUTE'),
	'billium_scanner may call it');
SELECT ok(NOT has_function_privilege('billium_api', 'billium.billium_report_leaked_keys(text[], text)', 'EXECUTE'),
	'billium_api may not');
SELECT ok(NOT has_function_privilege('tap_app', 'billium.billium_report_leaked_keys(text[], text)', 'EXECUTE'),
	'an application role (billium_api) may not');
SELECT ok(NOT has_function_privilege('billium_admin', 'billium.billium_report_leaked_keys(text[], text)', 'EXECUTE'),
	'billium_admin may not');
SELECT is((SELECT count(*)::int FROM aclexplode((SELECT proacl FROM pg_proc
			WHERE oid = 'billium.billium_report_leaked_keys(text[], text)'::regprocedure)) a
		   WHERE a.grantee = 0), 0, 'PUBLIC has no EXECUTE');
SELECT is_empty($$
	SELECT c.oid::regclass::text, p.priv FROM pg_class c
	CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(priv)
	WHERE c.relnamespace = 'billium'::regnamespace AND c.relkind IN ('r', 'v', 'p', 'm')
	  AND has_table_privilege('billium_scanner', c.oid, p.priv)
	  AND NOT has_table_privilege('public', c.oid, p.priv)$$,
	'billium_scanner holds no privilege on any table or view beyond PUBLIC''s');
SELECT is_empty($$
	SELECT c.oid::regclass::text FROM pg_class c
	WHERE c.relnamespace = 'billium'::regnamespace
	  AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('billium_scanner', c.oid, 'USAGE,SELECT,UPDATE')
			   AND NOT has_sequence_privilege('public', c.oid, 'USAGE,SELECT,UPDATE') END$$,
	'billium_scanner holds no privilege on any sequence beyond PUBLIC''s');
SELECT results_eq($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	WHERE p.pronamespace = 'billium'::regnamespace
	  AND has_function_privilege('billium_scanner', p.oid, 'EXECUTE')
	  AND NOT has_function_privilege('public', p.oid, 'EXECUTE')$$,
	$$VALUES ('billium.billium_report_leaked_keys(text[],text)')$$,
	'billium_scanner may call no other function than PUBLIC may');
SELECT is((SELECT count(*)::int FROM pg_auth_members WHERE member = 'billium_scanner'::regrole), 0,
	'billium_scanner is a member of no role');

SET ROLE tap_scanner;
SELECT throws_ok($$SELECT * FROM billium.api_keys$$, '42501', NULL, 'the scanner cannot read api_keys');
SELECT throws_ok($$SELECT * FROM billium.audit_log$$, '42501', NULL, 'nor the audit trail');
SELECT throws_ok($$SELECT billium.billium_key_verify('sk_x')$$, '42501', NULL, 'nor verify a key');
RESET ROLE;
SET ROLE tap_app;
SELECT throws_ok($$SELECT * FROM billium.billium_report_leaked_keys(ARRAY['sk_x'], 'https://example.test')$$,
	'42501', NULL, 'an application role cannot report leaks');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- 2-3. Every state of a token, in one report.
------------------------------------------------------------------------------------------------

SET ROLE tap_scanner;
SELECT results_eq(
	format($$SELECT token, label FROM billium.billium_report_leaked_keys(ARRAY[%L, %L, %L, %L, %L, %L, %L, NULL], %L)$$,
		   :'live', :'expired', :'revoked', :'pk', :'unknown', :'bad_checksum', :'malformed', :'url'),
	format($$VALUES (%L, 'true_positive'), (%L, 'true_positive'), (%L, 'true_positive'),
					(%L, 'false_positive'), (%L, 'false_positive'), (%L, 'false_positive'),
					(%L, 'false_positive'), (NULL, 'false_positive')$$,
		   :'live', :'expired', :'revoked', :'pk', :'unknown', :'bad_checksum', :'malformed'),
	'live sk, expired sk, revoked sk: true_positive; pk, unknown, bad checksum, malformed, null: false_positive (in order)');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- 4. The key rows.
------------------------------------------------------------------------------------------------

SELECT ok((SELECT revoked_at IS NOT NULL AND leaked_at = revoked_at AND leak_source_url = :'url'
		   FROM billium.api_keys WHERE key_hash = sha256(convert_to(:'live', 'UTF8'))),
	'the live key is revoked, with when (leaked_at) and where (leak_source_url)');
SELECT ok((SELECT revoked_at IS NOT NULL AND leaked_at = revoked_at AND leak_source_url = :'url'
		   FROM billium.api_keys WHERE key_hash = sha256(convert_to(:'expired', 'UTF8'))),
	'the expired key is revoked too, with when and where');
SELECT is_empty(format($$
	SELECT * FROM keys_before WHERE key_hash IN (sha256(convert_to(%L, 'UTF8')), sha256(convert_to(%L, 'UTF8')),
												 sha256(convert_to(%L, 'UTF8')), sha256(convert_to(%L, 'UTF8')))
	EXCEPT SELECT * FROM billium.api_keys$$, :'revoked', :'pk', :'bad_checksum', :'malformed'),
	'the revoked key, the pk key and the rows of the decoy hashes are unchanged');
SELECT is((SELECT revoked_at FROM billium.api_keys WHERE key_hash = sha256(convert_to(:'revoked', 'UTF8'))),
	'2026-01-01 00:00:00+00'::timestamptz, 'the already revoked key keeps its revocation time');
SELECT ok((SELECT revoked_at IS NULL AND leaked_at IS NULL FROM billium.api_keys
		   WHERE key_hash = sha256(convert_to(:'pk', 'UTF8'))), 'the pk key is not revoked');
SELECT is((SELECT count(*)::int FROM billium.api_keys WHERE name LIKE 'decoy%' AND revoked_at IS NULL), 2,
	'the rows holding the hashes of the malformed and checksum-bad tokens are not revoked (never looked up)');

SELECT ok((SELECT bool_and(revoked_at IS NOT NULL AND leaked_at IS NULL) FROM billium.api_keys
		   WHERE key_hash IN (sha256(convert_to(:'child', 'UTF8')), sha256(convert_to(:'grandchild', 'UTF8')))),
	'the keys the leaked key minted, at any depth, are revoked with it (not marked leaked themselves)');
SELECT is((SELECT count(*)::int FROM billium.audit_log a JOIN billium.api_keys k ON k.id = (a.after->>'id')::uuid
		   WHERE a.action = 'api_keys.revoke'
			 AND k.key_hash IN (sha256(convert_to(:'child', 'UTF8')), sha256(convert_to(:'grandchild', 'UTF8')))), 2,
	'each revocation of a minted key is audited as a revoke');

------------------------------------------------------------------------------------------------
-- 5. The audit trail.
------------------------------------------------------------------------------------------------

SELECT is((SELECT count(*)::int FROM billium.audit_log WHERE merchant_id = :'m' AND action = 'api_keys.leak'), 2,
	'two leak rows: the live and the expired key');
SELECT ok((SELECT bool_and(after->>'leak_source_url' = :'url' AND after->>'leaked_at' IS NOT NULL
						   AND after->>'revoked_at' IS NOT NULL AND before->>'revoked_at' IS NULL)
		   FROM billium.audit_log WHERE merchant_id = :'m' AND action = 'api_keys.leak'),
	'each leak row records the revocation with when and the source URL');
SELECT is((SELECT count(*)::int FROM billium.audit_log WHERE merchant_id = :'m' AND action = 'api_keys.leak_sighting'), 2,
	'two sighting rows: the pk key and the already revoked key');
SELECT ok((SELECT bool_and(after->>'source_url' = :'url' AND after->>'found_at' IS NOT NULL)
		   FROM billium.audit_log WHERE merchant_id = :'m' AND action = 'api_keys.leak_sighting'),
	'each sighting row records when and the source URL');
SELECT results_eq($$
	SELECT after->>'key_type', (after->>'revoked')::boolean FROM billium.audit_log
	WHERE action = 'api_keys.leak_sighting' ORDER BY after->>'key_type'$$,
	$$VALUES ('pk', false), ('sk', true)$$,
	'the sightings: the pk key (not revoked) and the sk key (revoked before)');
SELECT is_empty($$
	SELECT a.id FROM billium.audit_log a, fx
	WHERE a::text LIKE '%' || fx.token || '%'
	   OR a::text LIKE '%' || encode(sha256(convert_to(fx.token, 'UTF8')), 'hex') || '%'$$,
	'no column of the audit trail holds a token (nor its hash)');
SELECT is_empty($$
	SELECT k.id FROM billium.api_keys k, fx WHERE k::text LIKE '%' || fx.token || '%'$$,
	'no column of api_keys holds a token');

------------------------------------------------------------------------------------------------
-- 6. The same report again: harmless.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE keys_after AS SELECT * FROM billium.api_keys WHERE merchant_id = :'m';
GRANT SELECT ON keys_after TO PUBLIC;
SET ROLE tap_scanner;
SELECT results_eq(
	format($$SELECT token, label FROM billium.billium_report_leaked_keys(ARRAY[%L, %L, %L, %L, %L], %L)$$,
		   :'live', :'expired', :'revoked', :'pk', :'bad_checksum', :'url'),
	format($$VALUES (%L, 'true_positive'), (%L, 'true_positive'), (%L, 'true_positive'),
					(%L, 'false_positive'), (%L, 'false_positive')$$,
		   :'live', :'expired', :'revoked', :'pk', :'bad_checksum'),
	'the same report again: the same answers');
SELECT results_eq(
	format($$SELECT label FROM billium.billium_report_leaked_keys(ARRAY[%L, %L], %L)$$, :'live', :'live', :'url'),
	$$VALUES ('true_positive'), ('true_positive')$$,
	'a token twice in one report: the same answer twice');
RESET ROLE;
SELECT is_empty($$SELECT * FROM keys_after EXCEPT SELECT * FROM billium.api_keys$$,
	'a repeated report changes no key row (the first sighting''s when and where stay)');
SELECT is((SELECT count(*)::int FROM billium.audit_log WHERE merchant_id = :'m' AND action = 'api_keys.leak'), 2,
	'a repeated report revokes nothing again');
SELECT is((SELECT count(*)::int FROM billium.billium_report_leaked_keys('{}', :'url')), 0,
	'an empty report answers nothing');
SELECT throws_ok(format($$SELECT * FROM billium.billium_report_leaked_keys(ARRAY[%L], %L)$$,
		:'unknown', 'https://x.test/' || repeat('a', 2048)),
	'22023', NULL, 'a source URL over 2048 characters is refused');

------------------------------------------------------------------------------------------------
-- 7. Verification and the key listing.
------------------------------------------------------------------------------------------------

SELECT throws_like(format($$SELECT billium.billium_key_verify(%L)$$, :'live'),
	'the API key was revoked because it was reported leaked', 'the leaked key is refused');
SELECT is((SELECT code || ' ' || http_status || ' ' || sqlstate FROM billium.billium_error_catalog()
		   WHERE code = 'API_KEY_LEAKED'), 'API_KEY_LEAKED 401 28000', 'API_KEY_LEAKED: 401, SQLSTATE 28000');
CREATE FUNCTION pg_temp.verify_code(k text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE detail text;
BEGIN
	PERFORM billium.billium_key_verify(k);
	RETURN 'ok';
EXCEPTION WHEN invalid_authorization_specification THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN detail::jsonb->>'code';
END
$$;
SELECT is(pg_temp.verify_code(:'live'), 'API_KEY_LEAKED', 'the live key: API_KEY_LEAKED');
SELECT is(pg_temp.verify_code(:'expired'), 'API_KEY_LEAKED', 'the expired key: API_KEY_LEAKED, not API_KEY_EXPIRED');
SELECT is(pg_temp.verify_code(:'revoked'), 'API_KEY_REVOKED', 'the key revoked before the report: still API_KEY_REVOKED');
SELECT is(pg_temp.verify_code(:'pk'), 'ok', 'the pk key still verifies');
SELECT is(pg_temp.verify_code(:'grandchild'), 'API_KEY_REVOKED', 'a key the leaked key minted: API_KEY_REVOKED');

SELECT billium.billium_act_as(:'owner') IS NOT NULL AS acting \gset
SET ROLE tap_app;
SELECT results_eq(
	format($$SELECT leak_source_url, leaked_at IS NOT NULL FROM billium.api_keys
			 WHERE merchant_id = %L AND leaked_at IS NOT NULL ORDER BY name$$, :'m'),
	format($$VALUES (%L, true), (%L, true)$$, :'url', :'url'),
	'the key listing (an application role, as the OWNER) shows when and where the leaked keys were found');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
