-- Dashboard sessions (issue 5), the tokens the issue lists, made here with pgcrypto: valid,
-- wrong signature, altered payload, alg none and RS256 headers, expired, not yet valid, wrong
-- audience, missing sub, unknown user, garbage; then a session's verdicts from billium_authorize,
-- the team's security requirements, a key beside a session, and the postgrest error style.  All
-- in one transaction that is rolled back, so the database is left as it was.
BEGIN;
SET client_min_messages = warning;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.4.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.4.0';
	END IF;
END $$;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
INSERT INTO billium.merchants (id, name) VALUES ('e5000000-0000-0000-0000-000000000001', 'sessions regress');
INSERT INTO billium.merchants (id, name, enforce_tfa, enforce_github_login, enforce_email_verified)
	VALUES ('e5000000-0000-0000-0000-000000000002', 'sessions regress strict', true, true, true);
INSERT INTO billium.users (id, email, github_linked) VALUES
	('e6000000-0000-0000-0000-000000000001', 'admin@sessions-regress.test', true),
	('e6000000-0000-0000-0000-000000000002', 'owner@sessions-regress.test', false);
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('e5000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-000000000002', 'OWNER'),
	('e5000000-0000-0000-0000-000000000002', 'e6000000-0000-0000-0000-000000000002', 'OWNER'),
	('e5000000-0000-0000-0000-000000000001', 'e6000000-0000-0000-0000-000000000001', 'ADMIN'),
	('e5000000-0000-0000-0000-000000000002', 'e6000000-0000-0000-0000-000000000001', 'ADMIN');
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=') $$;
CREATE FUNCTION pg_temp.seg(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_temp.b64u(convert_to(t, 'UTF8')) $$;
CREATE FUNCTION pg_temp.token(header text, payload jsonb, secret text DEFAULT 'billium-test-cluster-jwt-secret-32b!') RETURNS text
	LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'))
	FROM (SELECT pg_temp.seg(header) || '.' || pg_temp.seg(payload::text) AS s) x
$$;
CREATE FUNCTION pg_temp.claims(sub text, exp_in int DEFAULT 600) RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('sub', sub, 'exp', floor(extract(epoch FROM now()))::bigint + exp_in) $$;
-- The verdict on a token: the authenticated user's email, or SQLSTATE and envelope code.
CREATE FUNCTION pg_temp.verdict(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; det text;
BEGIN
	RETURN (SELECT email FROM billium.users WHERE id = (billium.billium_authenticate_session(token)).user_id);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
	RETURN st || ' ' || coalesce(det::jsonb->>'code', det);
END
$$;
-- Tokens are signed with the test cluster's billium.jwt_secret (postgresql.conf, scripts/lib.sh).
SET LOCAL billium.jwt_audience = 'billium-dashboard';
-- The issue's list.
WITH v(sub, nowish) AS (SELECT 'e6000000-0000-0000-0000-000000000001', floor(extract(epoch FROM now()))::bigint)
SELECT n, name, pg_temp.verdict(token) FROM v, LATERAL (VALUES
	(1, 'valid', pg_temp.token('{"alg":"HS256","typ":"JWT"}', pg_temp.claims(sub) || '{"aud":"billium-dashboard"}')),
	(2, 'wrong signature', pg_temp.token('{"alg":"HS256"}', pg_temp.claims(sub) || '{"aud":"billium-dashboard"}', 'wrong')),
	(3, 'altered payload', (SELECT split_part(t, '.', 1) || '.'
			|| pg_temp.seg((pg_temp.claims('e6000000-0000-0000-0000-000000000002') || '{"aud":"billium-dashboard"}')::text)
			|| '.' || split_part(t, '.', 3)
		FROM (SELECT pg_temp.token('{"alg":"HS256"}', pg_temp.claims(sub) || '{"aud":"billium-dashboard"}') AS t) x)),
	(4, 'alg none', pg_temp.seg('{"alg":"none"}') || '.' || pg_temp.seg((pg_temp.claims(sub) || '{"aud":"billium-dashboard"}')::text) || '.'),
	(5, 'RS256 header, no JWKS', pg_temp.token('{"alg":"RS256"}', pg_temp.claims(sub) || '{"aud":"billium-dashboard"}')),
	(6, 'expired', pg_temp.token('{"alg":"HS256"}', pg_temp.claims(sub, -3600) || '{"aud":"billium-dashboard"}')),
	(7, 'not yet valid', pg_temp.token('{"alg":"HS256"}', pg_temp.claims(sub) || jsonb_build_object('aud', 'billium-dashboard', 'nbf', nowish + 3600))),
	(8, 'wrong audience', pg_temp.token('{"alg":"HS256"}', pg_temp.claims(sub) || '{"aud":"billium-admin"}')),
	(9, 'missing sub', pg_temp.token('{"alg":"HS256"}', (pg_temp.claims(sub) || '{"aud":"billium-dashboard"}') - 'sub')),
	(10, 'unknown user', pg_temp.token('{"alg":"HS256"}', pg_temp.claims('e6000000-0000-0000-0000-0000000000ff') || '{"aud":"billium-dashboard"}')),
	(11, 'garbage', 'not.a.token'),
	(12, 'missing exp', pg_temp.token('{"alg":"HS256"}', (pg_temp.claims(sub) || '{"aud":"billium-dashboard"}') - 'exp')),
	(13, 'crit header', pg_temp.token('{"alg":"HS256","crit":["b64"]}', pg_temp.claims(sub) || '{"aud":"billium-dashboard"}'))
) AS t(n, name, token) ORDER BY n;
SET LOCAL billium.jwt_audience = '';
CREATE ROLE regress_sessions LOGIN;
GRANT billium_api TO regress_sessions;
SELECT pg_temp.token('{"alg":"HS256"}', pg_temp.claims('e6000000-0000-0000-0000-000000000001')) AS admin_token \gset
SELECT billium.billium_test_key('e5000000-0000-0000-0000-000000000002', 'sk', '{invoice:*}') AS strict_key \gset
SET LOCAL ROLE regress_sessions;
SET LOCAL billium.session = :'admin_token';
-- The envelopes: 401 for a bad token, 403 with the missing factors in the fixed order.
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000001')).kind;
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000002')).kind;
SELECT billium.billium_merchants_with('invoice:view');
SET LOCAL billium.api_key = :'strict_key';
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000002')).kind;
SET LOCAL billium.session = '';
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000002')).kind;
SET LOCAL billium.api_key = '';
SET LOCAL billium.session = 'not.a.token';
SELECT billium.billium_current_principal();
SHOW billium.jwt_secret;
-- billium.error_style = postgrest: PostgREST's PTnnn codes (shown as SQLSTATEs); the default is
-- the standard ones.
RESET ROLE;
SET LOCAL billium.error_style = 'postgrest';
SET LOCAL ROLE regress_sessions;
SELECT pg_temp.verdict('not.a.token');
\set VERBOSITY sqlstate
SELECT billium.billium_current_principal();
SET LOCAL billium.session = :'admin_token';
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000002')).kind;
SELECT (billium.billium_authorize('invoices.list', 'e5000000-0000-0000-0000-000000000003')).kind;
\set VERBOSITY default
ROLLBACK;
