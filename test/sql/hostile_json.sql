-- Hostile JSON on every credential path (issue 12, item 8): the JWT header and claims (through
-- billium.session and billium_authenticate_session), PostgREST's request.headers and, when
-- trusted, request.jwt.claims.  Numbers beyond any type, deep nesting, duplicate keys, wrong
-- types, \u0000 and lone surrogates, a top level that is not an object: each ends in the
-- documented 401 envelope (SQLSTATE 28000), never another error.  Tokens are signed with the
-- right secret, so only the JSON is hostile.  Printed per case: the SQLSTATE and envelope code.
DO $$
DECLARE
	newest text;
BEGIN
	SELECT version INTO newest FROM pg_available_extension_versions WHERE name = 'billium'
	ORDER BY pg_catalog.string_to_array(version, '.')::int[] DESC LIMIT 1;
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[]
	   < pg_catalog.string_to_array(newest, '.')::int[] THEN
		EXECUTE format('ALTER EXTENSION billium UPDATE TO %L', newest);
	END IF;
END
$$;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
RESET client_min_messages;
CREATE ROLE regress_hostile_app;
GRANT billium_api TO regress_hostile_app;
SET search_path = billium, public;
SELECT merchant_id AS m, owner_id AS owner FROM billium_test_merchant('hostile json', 'owner@hostile-json.regress') \gset
SELECT billium_test_key(:'m', 'sk', '{*}') AS sk \gset
SELECT set_config('hostile.merchant', :'m', false) IS NOT NULL AS merchant_set,
	   set_config('hostile.owner', :'owner', false) IS NOT NULL AS owner_set,
	   set_config('hostile.sk', :'sk', false) IS NOT NULL AS key_set;

-- The test cluster's secret (scripts/lib.sh writes it into postgresql.conf).
\set secret 'billium-test-cluster-jwt-secret-32b!'
SELECT set_config('hostile.secret', :'secret', false) IS NOT NULL AS secret_known;
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=') $$;
-- A token signed with the cluster's secret; header and claims as any text.
CREATE FUNCTION pg_temp.token(header text, claims text) RETURNS text LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), convert_to(current_setting('hostile.secret'), 'UTF8'), 'sha256'))
	FROM (SELECT pg_temp.b64u(convert_to(header, 'UTF8')) || '.' || pg_temp.b64u(convert_to(claims, 'UTF8')) AS s) x
$$;
-- Good claims for the owner, with extra members spliced in (text, so duplicates survive).
CREATE FUNCTION pg_temp.claims(extra text DEFAULT '') RETURNS text LANGUAGE sql AS $$
	SELECT format('{"sub":"%s","exp":%s%s}', current_setting('hostile.owner'),
				  floor(extract(epoch FROM now()))::bigint + 600, extra)
$$;
-- The outcome of a statement: 'allowed', or SQLSTATE and envelope code (or the error message).
CREATE FUNCTION pg_temp.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text;
BEGIN
	EXECUTE stmt;
	RETURN 'allowed';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	BEGIN
		RETURN st || ' ' || (det::jsonb->>'status') || ' ' || (det::jsonb->>'code');
	EXCEPTION WHEN OTHERS THEN
		RETURN st || ' ' || msg;
	END;
END
$$;
CREATE TABLE pg_temp.hostile (n int, label text, json text);
INSERT INTO pg_temp.hostile VALUES
	(1, 'huge number', '{"n":1e999999999}'),
	(2, 'huge negative exponent', '{"n":1e-999999999}'),
	(3, 'a million digits', '{"n":' || repeat('9', 1000000) || '}'),
	(4, '200,000 nested arrays', '{"n":' || repeat('[', 200000) || repeat(']', 200000) || '}'),
	(5, '200,000 nested objects', '{"n":' || repeat('{"a":', 200000) || '1' || repeat('}', 200000) || '}'),
	(6, 'unbalanced nesting', '{"n":' || repeat('[', 200000) || '}'),
	(7, 'NUL escape', '{"n":"\u0000"}'),
	(8, 'lone surrogate', '{"n":"\ud800"}'),
	(9, 'top level array', '[1,2,3]'),
	(10, 'top level string', '"x"'),
	(11, 'empty', ''),
	(12, 'not JSON', '{n:1}');
-- Every case as (path, n, label, statement); run each in a transaction of its own (a principal is
-- resolved once per transaction), as regress_hostile_app, by the procedure below.
CREATE TABLE pg_temp.cases (path text, n int, label text, stmt text);
CREATE FUNCTION pg_temp.session_stmt(token text) RETURNS text LANGUAGE sql AS
$$ SELECT format('SELECT billium.billium_authenticate_session(%L)', token) $$;
CREATE FUNCTION pg_temp.headers_stmt(headers text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT set_config(''request.headers'', %L, true), billium.billium_authorize(''invoices.list'', %L)',
				  headers, current_setting('hostile.merchant'))
$$;
CREATE FUNCTION pg_temp.claims_stmt(claims text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT set_config(''request.jwt.claims'', %L, true), billium.billium_authorize(''invoices.list'', %L)',
				  claims, current_setting('hostile.merchant'))
$$;
-- A hostile body as members beside good ones: '{"n":...}' spliced into an object; others as they are.
CREATE FUNCTION pg_temp.beside(good text, body text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN body LIKE '{"n":%' THEN left(good, -1) || ',' || substr(body, 2) ELSE body END
$$;

-- 1. The JWT header (the 16 KiB token limit keeps the largest bodies out: as deep as fits instead).
INSERT INTO pg_temp.cases
SELECT '1 header', n, label, pg_temp.session_stmt(pg_temp.token(pg_temp.beside('{"alg":"HS256"}', json), pg_temp.claims()))
FROM pg_temp.hostile WHERE n NOT IN (3, 4, 5, 6)
UNION ALL
SELECT '1 header', n, label, pg_temp.session_stmt(pg_temp.token(json, pg_temp.claims()))
FROM (VALUES (13, '11,000 nested arrays', '{"alg":"HS256","n":' || repeat('[', 11000) || repeat(']', 11000) || '}'),
			 (20, 'alg a number', '{"alg":256}'), (21, 'alg an array', '{"alg":["HS256"]}'),
			 (22, 'alg null', '{"alg":null}'), (23, 'alg twice', '{"alg":"none","alg":"HS256"}'),
			 (24, 'kid an object', '{"alg":"HS256","kid":{"a":1}}')) AS v(n, label, json);
-- 2. The claims, signed with the right secret.
INSERT INTO pg_temp.cases
SELECT '2 claims', n, label, pg_temp.session_stmt(pg_temp.token('{"alg":"HS256"}', pg_temp.beside(pg_temp.claims(), json)))
FROM pg_temp.hostile WHERE n NOT IN (3, 4, 5, 6)
UNION ALL
SELECT '2 claims', n, label, pg_temp.session_stmt(pg_temp.token('{"alg":"HS256"}', json))
FROM (VALUES (13, '11,000 nested arrays', pg_temp.claims(',"n":' || repeat('[', 11000) || repeat(']', 11000))),
			 (30, 'exp a huge number', format('{"sub":"%s","exp":1e999999999}', current_setting('hostile.owner'))),
			 (31, 'exp a huge negative number', format('{"sub":"%s","exp":-1e999999999}', current_setting('hostile.owner'))),
			 (32, 'exp a string', format('{"sub":"%s","exp":"4102444800"}', current_setting('hostile.owner'))),
			 (33, 'sub a number', '{"sub":1,"exp":4102444800}'),
			 (34, 'sub twice', format('{"sub":"%s","exp":4102444800,"sub":"%s"}', gen_random_uuid(), current_setting('hostile.owner'))),
			 (35, 'exp twice', format('{"sub":"%s","exp":1,"exp":4102444800}', current_setting('hostile.owner'))),
			 (36, 'nbf a huge number', pg_temp.claims(',"nbf":1e999999999')),
			 (37, 'the control: good claims', pg_temp.claims())) AS v(n, label, json);
INSERT INTO pg_temp.cases VALUES ('2 claims', 38, 'through billium.session and the gate',
	format('SELECT set_config(''billium.session'', %L, true), billium.billium_authorize(''invoices.list'', %L)',
		   pg_temp.token('{"alg":"HS256"}', pg_temp.claims(',"n":1e999999999')), current_setting('hostile.merchant')));
-- 3. PostgREST's request.headers, the hostile body beside a valid x-api-key.
INSERT INTO pg_temp.cases
SELECT '3 request.headers', n, label, pg_temp.headers_stmt(pg_temp.beside(format('{"x-api-key":"%s"}', current_setting('hostile.sk')), json))
FROM pg_temp.hostile
UNION ALL
SELECT '3 request.headers', n, label, pg_temp.headers_stmt(json)
FROM (VALUES (40, 'x-api-key a huge number', '{"x-api-key":1e999999999}'),
			 (41, 'x-api-key an array', format('{"x-api-key":["%s"]}', current_setting('hostile.sk'))),
			 (42, 'x-api-key twice', format('{"x-api-key":"sk_nope","x-api-key":"%s"}', current_setting('hostile.sk'))),
			 (43, 'x-api-key null', '{"x-api-key":null}'),
			 (44, 'the control: a valid key', format('{"x-api-key":"%s"}', current_setting('hostile.sk')))) AS v(n, label, json);
-- 4. request.jwt.claims, trusted (billium.trust_request_claims, set below).
INSERT INTO pg_temp.cases
SELECT '4 request.jwt.claims', n, label, pg_temp.claims_stmt(pg_temp.beside(format('{"sub":"%s"}', current_setting('hostile.owner')), json))
FROM pg_temp.hostile
UNION ALL
SELECT '4 request.jwt.claims', n, label, pg_temp.claims_stmt(json)
FROM (VALUES (50, 'sub a number', '{"sub":1}'),
			 (51, 'sub twice', format('{"sub":"%s","sub":"%s"}', gen_random_uuid(), current_setting('hostile.owner'))),
			 (52, 'the control: a valid sub', format('{"sub":"%s"}', current_setting('hostile.owner')))) AS v(n, label, json);

CREATE TABLE pg_temp.results (path text, n int, label text, outcome text);
CREATE PROCEDURE pg_temp.run_cases() LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM pg_temp.cases ORDER BY path, n LOOP
		INSERT INTO pg_temp.results VALUES (c.path, c.n, c.label, pg_temp.outcome(c.stmt));
		COMMIT;
	END LOOP;
END
$$;
GRANT SELECT ON pg_temp.cases TO regress_hostile_app;
GRANT INSERT ON pg_temp.results TO regress_hostile_app;
SET billium.trust_request_claims = on;
SET ROLE regress_hostile_app;
CALL pg_temp.run_cases();
RESET ROLE;
RESET billium.trust_request_claims;
-- Every case: the 401 envelope, except the controls.
SELECT path, n, label, outcome FROM pg_temp.results ORDER BY path, n;
SELECT count(*) AS cases, count(*) FILTER (WHERE outcome LIKE '28000 401 %') AS refused_with_401
FROM pg_temp.results;

DROP TABLE pg_temp.cases, pg_temp.results, pg_temp.hostile;
DELETE FROM billium.merchants WHERE id = :'m';
DELETE FROM billium.users WHERE id = :'owner';
DROP ROLE regress_hostile_app;
