-- Dashboard sessions (issue 5): HS256 tokens made here with pgcrypto and checked by
-- billium_authenticate_session and billium.session; the superuser-only settings; exp, nbf and the
-- leeway; aud and iss; sub; refused algorithms and malformed tokens (never echoed); a session's
-- permissions on a merchant; the team's security requirements for sessions, trusted PostgREST
-- claims, act_as and keys; enabling a factor; OWNER-only flags; PRINCIPAL_CONFLICT; and
-- billium.error_style = postgrest.  RS256 and ES256 are in test/suites/sessions_asym.sh.
BEGIN;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.4.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.4.0';
	END IF;
END $$;
SELECT plan(132);

CREATE EXTENSION IF NOT EXISTS pgcrypto;

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  M1 ...001: OWNER u1 (every factor), ADMIN u2, MEMBER u3, VIEWER
-- u4, an ADMIN u8 whose grant is only {invoice:view}; M2 ...002: OWNER u5.  M3 ...003 requires
-- tfa: its OWNER u9 and ADMIN u6 and VIEWER u7 lack it (u6 has emailVerified).  Invoices: two on
-- M1, one on M2, one on M3.
------------------------------------------------------------------------------------------------
INSERT INTO billium.merchants (id, name) VALUES
	('d1000000-0000-0000-0000-000000000001', 'sessions one'),
	('d1000000-0000-0000-0000-000000000002', 'sessions two');
INSERT INTO billium.merchants (id, name, enforce_tfa) VALUES
	('d1000000-0000-0000-0000-000000000003', 'sessions three', true);
INSERT INTO billium.users (id, email, tfa_enabled, passkey_enabled, google_linked, github_linked, email_verified) VALUES
	('d2000000-0000-0000-0000-000000000001', 'owner@sessions.test', true, true, true, true, true),
	('d2000000-0000-0000-0000-000000000002', 'admin@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000003', 'member@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000004', 'viewer@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000005', 'outsider@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000006', 'notfa@sessions.test', false, false, false, false, true),
	('d2000000-0000-0000-0000-000000000007', 'notfa-viewer@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000008', 'narrow@sessions.test', false, false, false, false, false),
	('d2000000-0000-0000-0000-000000000009', 'owner3@sessions.test', false, false, false, false, false);
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('d1000000-0000-0000-0000-000000000001', 'd2000000-0000-0000-0000-000000000001', 'OWNER'),
	('d1000000-0000-0000-0000-000000000001', 'd2000000-0000-0000-0000-000000000002', 'ADMIN'),
	('d1000000-0000-0000-0000-000000000001', 'd2000000-0000-0000-0000-000000000003', 'MEMBER'),
	('d1000000-0000-0000-0000-000000000001', 'd2000000-0000-0000-0000-000000000004', 'VIEWER'),
	('d1000000-0000-0000-0000-000000000002', 'd2000000-0000-0000-0000-000000000005', 'OWNER'),
	('d1000000-0000-0000-0000-000000000003', 'd2000000-0000-0000-0000-000000000009', 'OWNER'),
	('d1000000-0000-0000-0000-000000000003', 'd2000000-0000-0000-0000-000000000006', 'ADMIN'),
	('d1000000-0000-0000-0000-000000000003', 'd2000000-0000-0000-0000-000000000007', 'VIEWER');
INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES
	('d1000000-0000-0000-0000-000000000001', 'd2000000-0000-0000-0000-000000000008', 'ADMIN', '{invoice:view}');
INSERT INTO billium.invoices (merchant_id, amount, description) VALUES
	('d1000000-0000-0000-0000-000000000001', 100, 'one a'),
	('d1000000-0000-0000-0000-000000000001', 200, 'one b'),
	('d1000000-0000-0000-0000-000000000002', 300, 'two'),
	('d1000000-0000-0000-0000-000000000003', 400, 'three');
SELECT billium.billium_test_key('d1000000-0000-0000-0000-000000000001', 'sk', '{*}') AS key1 \gset
SELECT billium.billium_test_key('d1000000-0000-0000-0000-000000000003', 'sk', '{invoice:*}') AS key3 \gset

-- Token makers.  b64u: base64url without padding.  token(header, payload, secret): HS256 over
-- the exact header and payload text given.  sess(sub, exp offset): a plain valid session.
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=') $$;
CREATE FUNCTION pg_temp.seg(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_temp.b64u(convert_to(t, 'UTF8')) $$;
CREATE FUNCTION pg_temp.token(header text, payload text, secret text DEFAULT 'billium-test-cluster-jwt-secret-32b!')
	RETURNS text LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'))
	FROM (SELECT pg_temp.seg(header) || '.' || pg_temp.seg(payload) AS s) x
$$;
CREATE FUNCTION pg_temp.now_s() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT floor(extract(epoch FROM now()))::bigint $$;
CREATE FUNCTION pg_temp.claims(sub text, extra jsonb DEFAULT '{}', exp_in bigint DEFAULT 600) RETURNS text
	LANGUAGE sql STABLE AS $$
	SELECT (jsonb_build_object('sub', sub, 'exp', pg_temp.now_s() + exp_in) || extra)::text
$$;
CREATE FUNCTION pg_temp.sess(sub text, exp_in bigint DEFAULT 600) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT pg_temp.token('{"alg":"HS256","typ":"JWT"}', pg_temp.claims(sub, '{}', exp_in)) $$;

-- refusal(sql): null when it runs, else its SQLSTATE, message, detail, hint and the detail as the
-- JSON envelope.  outcome(sql): 'ok' or 'SQLSTATE status CODE'.  verdict(token): the outcome of
-- billium_authenticate_session.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text; ctx text; env jsonb;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
							hnt = PG_EXCEPTION_HINT;
	BEGIN
		env := det::jsonb;
	EXCEPTION WHEN OTHERS THEN
		env := to_jsonb(det);
	END;
	RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', det, 'hint', hnt, 'envelope', env);
END
$$;
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(r->>'sqlstate' || ' ' || coalesce(r->'envelope'->>'status', '-') || ' '
					|| coalesce(r->'envelope'->>'code', '-'), 'ok')
	FROM (SELECT pg_temp.refusal(sql) AS r) s
$$;
CREATE FUNCTION pg_temp.verdict(token text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.outcome(format('SELECT billium_authenticate_session(%L)', token))
$$;
-- Make the token this transaction's billium.session (which forgets any earlier principal).
CREATE FUNCTION pg_temp.use(token text) RETURNS void LANGUAGE sql AS $$
	SELECT FROM set_config('billium.api_key', '', true);
	SELECT FROM set_config('billium.session', token, true);
$$;
-- who(): the current principal's kind ('none' without one), or the refusal as outcome() spells it.
CREATE FUNCTION pg_temp.who() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r jsonb := pg_temp.refusal('SELECT billium_current_principal()');
BEGIN
	IF r IS NOT NULL THEN
		RETURN r->>'sqlstate' || ' ' || coalesce(r->'envelope'->>'status', '-') || ' '
			   || coalesce(r->'envelope'->>'code', '-');
	END IF;
	RETURN coalesce((billium_current_principal()).kind, 'none');
END
$$;
CREATE FUNCTION pg_temp.seen(m uuid) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM billium.invoices WHERE merchant_id = m $$;

-- Tokens are signed with the test cluster's billium.jwt_secret (postgresql.conf, scripts/lib.sh):
-- a server-level setting, which no session can change.

CREATE ROLE tap_sess_app LOGIN;
GRANT billium_api, billium_admin TO tap_sess_app;
SET LOCAL ROLE tap_sess_app;
SET LOCAL search_path = public, billium;

------------------------------------------------------------------------------------------------
-- The settings: the secret is never visible to an ordinary role; none of the verification
-- settings can be changed by one.
------------------------------------------------------------------------------------------------
SELECT throws_ok('SHOW billium.jwt_secret', '42501', NULL, 'an ordinary role cannot SHOW billium.jwt_secret');
SELECT throws_ok($$SELECT current_setting('billium.jwt_secret')$$, '42501', NULL,
				 'nor read it with current_setting');
SELECT throws_ok($$SELECT current_setting('billium.jwt_secret', true)$$, '42501', NULL,
				 'nor with current_setting(..., missing_ok)');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'billium.jwt_secret'), 0::bigint,
		  'nor find it in pg_settings');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'billium.session'), 0::bigint,
		  'billium.session is not listed by SHOW ALL / pg_settings either');
SELECT is(pg_temp.outcome($$SET LOCAL billium.jwt_secret = 'mine'$$), '55P02 - -',
		  'no session can set billium.jwt_secret (a server-level setting)');
SELECT is(pg_temp.outcome(format('SET LOCAL %s = %L', s, v)), '42501 - -',
		  format('an ordinary role cannot set %s', s))
FROM (VALUES ('billium.jwt_jwks', '{"keys":[]}'), ('billium.jwt_leeway', '3600'),
			 ('billium.jwt_audience', 'x'), ('billium.jwt_issuer', 'x'), ('billium.trust_request_claims', 'on'),
			 ('billium.error_style', 'postgrest')) AS t(s, v);

------------------------------------------------------------------------------------------------
-- A valid session.
------------------------------------------------------------------------------------------------
SELECT is(billium_authenticate_session(pg_temp.sess('d2000000-0000-0000-0000-000000000002')),
		  ROW('user', NULL, NULL, NULL, 'd2000000-0000-0000-0000-000000000002', NULL)::billium_principal,
		  'billium_authenticate_session: a valid HS256 token makes its sub the principal');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000003'));
SELECT is((billium_current_principal()).user_id, 'd2000000-0000-0000-0000-000000000003'::uuid,
		  'SET LOCAL billium.session: the same, read lazily by billium_current_principal');
SELECT is((billium_current_principal()).kind, 'user', 'its kind is user');
SELECT FROM pg_temp.use('');
SELECT is(billium_current_principal(), NULL, 'an empty billium.session means no session');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$),
		  '28000 401 API_KEY_MISSING', 'and billium_authorize then answers 401 API_KEY_MISSING');

------------------------------------------------------------------------------------------------
-- Bad tokens: each refused with 401 / 28000 and the right code.
------------------------------------------------------------------------------------------------
CREATE TEMP TABLE bad_token (name text, token text, expected text);
INSERT INTO bad_token
SELECT name, token, '28000 401 SESSION_INVALID' FROM (VALUES
	('wrong signature (another secret)',
	 pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'), 'not-the-secret')),
	('altered payload (another sub, the original signature)',
	 (SELECT split_part(t, '.', 1) || '.' || pg_temp.seg(pg_temp.claims('d2000000-0000-0000-0000-000000000001'))
			 || '.' || split_part(t, '.', 3)
	  FROM (SELECT pg_temp.sess('d2000000-0000-0000-0000-000000000002') AS t) x)),
	('signature of another token',
	 (SELECT split_part(a, '.', 1) || '.' || split_part(a, '.', 2) || '.' || split_part(b, '.', 3)
	  FROM (SELECT pg_temp.sess('d2000000-0000-0000-0000-000000000002') AS a,
				   pg_temp.sess('d2000000-0000-0000-0000-000000000001') AS b) x)),
	('signature truncated by one byte',
	 (SELECT left(t, length(t) - 3) FROM (SELECT pg_temp.sess('d2000000-0000-0000-0000-000000000002') AS t) x)),
	('alg none, empty signature',
	 pg_temp.seg('{"alg":"none"}') || '.' || pg_temp.seg(pg_temp.claims('d2000000-0000-0000-0000-000000000002')) || '.'),
	('alg none, correctly HMAC-signed',
	 pg_temp.token('{"alg":"none"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('alg None, correctly HMAC-signed',
	 pg_temp.token('{"alg":"None"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('alg hs256 (lower case)',
	 pg_temp.token('{"alg":"hs256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('alg HS512',
	 pg_temp.token('{"alg":"HS512"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('no alg',
	 pg_temp.token('{"typ":"JWT"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('RS256 header, HMAC-signed with the secret, no JWKS configured',
	 pg_temp.token('{"alg":"RS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('ES256 header, HMAC-signed with the secret, no JWKS configured',
	 pg_temp.token('{"alg":"ES256","kid":"k1"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('crit header',
	 pg_temp.token('{"alg":"HS256","crit":["exp"]}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('no exp',
	 pg_temp.token('{"alg":"HS256"}', '{"sub":"d2000000-0000-0000-0000-000000000002"}')),
	('exp a string',
	 pg_temp.token('{"alg":"HS256"}', format('{"sub":"d2000000-0000-0000-0000-000000000002","exp":"%s"}', pg_temp.now_s() + 600))),
	('nbf an hour ahead',
	 pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002', jsonb_build_object('nbf', pg_temp.now_s() + 3600)))),
	('nbf 31 s ahead (leeway 30 s)',
	 pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002', jsonb_build_object('nbf', pg_temp.now_s() + 31)))),
	('nbf a string',
	 pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002', '{"nbf":"0"}'))),
	('missing sub',
	 pg_temp.token('{"alg":"HS256"}', format('{"exp":%s}', pg_temp.now_s() + 600))),
	('sub not a uuid', pg_temp.sess('admin@sessions.test')),
	('sub a number', pg_temp.token('{"alg":"HS256"}', format('{"sub":12,"exp":%s}', pg_temp.now_s() + 600))),
	('sub an unknown user', pg_temp.sess('d2000000-0000-0000-0000-0000000000ff')),
	('sub a merchant id', pg_temp.sess('d1000000-0000-0000-0000-000000000001')),
	('payload a JSON array', pg_temp.token('{"alg":"HS256"}', '[1]')),
	('payload not JSON', pg_temp.token('{"alg":"HS256"}', 'sub=x')),
	('header a JSON array', pg_temp.token('["HS256"]', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('header not JSON', pg_temp.token('alg=HS256', pg_temp.claims('d2000000-0000-0000-0000-000000000002'))),
	('padded base64url',
	 (SELECT t || '=' FROM (SELECT pg_temp.sess('d2000000-0000-0000-0000-000000000002') AS t) x)),
	('standard base64 alphabet (+ and /)',
	 (SELECT translate(t, '-_', '+/') FROM (SELECT pg_temp.token('{"alg":"HS256","x":"~~~>>>???"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002')) AS t) x)),
	('garbage', 'garbage'),
	('two segments', 'abc.def'),
	('four segments', (SELECT t || '.x' FROM (SELECT pg_temp.sess('d2000000-0000-0000-0000-000000000002') AS t) x)),
	('empty segments', '..'),
	('empty string', ''),
	('leading space', ' ' || pg_temp.sess('d2000000-0000-0000-0000-000000000002')),
	('16 kB of base64url', repeat('A', 8000) || '.' || repeat('A', 8000) || '.' || repeat('A', 500))
) AS t(name, token)
UNION ALL
SELECT name, token, '28000 401 SESSION_EXPIRED' FROM (VALUES
	('expired an hour ago', pg_temp.sess('d2000000-0000-0000-0000-000000000002', -3600)),
	('expired 31 s ago (leeway 30 s)', pg_temp.sess('d2000000-0000-0000-0000-000000000002', -31)),
	('expired exactly 30 s ago (the leeway is exclusive)', pg_temp.sess('d2000000-0000-0000-0000-000000000002', -30))
) AS t(name, token);

SELECT is(pg_temp.verdict(token), expected, 'refused: ' || name) FROM bad_token ORDER BY expected, name;

SELECT is((SELECT string_agg(name, ', ') FROM bad_token b, LATERAL (SELECT pg_temp.refusal(
			  format('SELECT billium_authenticate_session(%L)', b.token))::text AS r) x
		   WHERE length(b.token) > 0 AND (strpos(x.r, b.token) > 0
				 OR EXISTS (SELECT FROM unnest(string_to_array(b.token, '.')) p
							WHERE length(p) >= 8 AND strpos(x.r, p) > 0))),
		  NULL, 'no refusal echoes the token or any of its segments in message, detail or hint');

SELECT is(pg_temp.refusal(format('SELECT billium_authenticate_session(%L)', 'garbage'))->'envelope',
		  '{"status":401,"code":"SESSION_INVALID","message":"the dashboard session is not valid"}'::jsonb,
		  'the SESSION_INVALID envelope');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000002', -3600));
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$)->'envelope',
		  '{"status":401,"code":"SESSION_EXPIRED","message":"the dashboard session has expired","action":"invoices.list"}'::jsonb,
		  'an expired billium.session: billium_authorize answers the SESSION_EXPIRED envelope with the action');
SELECT FROM pg_temp.use('x.y.z');
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), '28000 401 SESSION_INVALID',
		  'a bad billium.session: billium_current_principal is refused too');
SELECT is(pg_temp.outcome($$SELECT count(*) FROM billium.invoices$$), '28000 401 SESSION_INVALID',
		  'and so is a query through row-level security');

------------------------------------------------------------------------------------------------
-- Accepted edges of exp and nbf, the leeway setting, aud and iss.
------------------------------------------------------------------------------------------------
SELECT is(pg_temp.verdict(pg_temp.sess('d2000000-0000-0000-0000-000000000002', -29)), 'ok',
		  'expired 29 s ago: still within the 30 s leeway');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002',
			  jsonb_build_object('nbf', pg_temp.now_s() + 30)))), 'ok', 'nbf 30 s ahead: within the leeway');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002',
			  jsonb_build_object('nbf', pg_temp.now_s() - 10, 'iat', pg_temp.now_s() - 10, 'aud', 'anyone', 'iss', 'anyone')))),
		  'ok', 'past nbf, and aud and iss not checked while not configured');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256","typ":"JWT","kid":"ignored"}',
			  pg_temp.claims('d2000000-0000-0000-0000-000000000002', '{"exp":1e10}'))), 'ok',
		  'exp as an exponent-notation number, and a kid that HS256 ignores');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002', '{"exp":1e400}'))),
		  'ok', 'exp beyond double precision: a far-future expiry, not a server error');

RESET ROLE;
SET LOCAL billium.jwt_leeway = 0;
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.verdict(pg_temp.sess('d2000000-0000-0000-0000-000000000002', -1)), '28000 401 SESSION_EXPIRED',
		  'billium.jwt_leeway = 0: expired a second ago is expired');
SELECT is(pg_temp.verdict(pg_temp.sess('d2000000-0000-0000-0000-000000000002', 1)), 'ok',
		  'and one expiring in a second is valid');
RESET ROLE;
SET LOCAL billium.jwt_leeway = '2min';
SET LOCAL billium.jwt_audience = 'billium-dashboard';
SET LOCAL billium.jwt_issuer = 'https://auth.billium.test/';
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002',
			  '{"aud":"billium-dashboard","iss":"https://auth.billium.test/"}', -100))), 'ok',
		  'billium.jwt_leeway = 2min: expired 100 s ago is within it; aud and iss match');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002',
			  '{"aud":["other","billium-dashboard"],"iss":"https://auth.billium.test/"}'))), 'ok',
		  'aud as an array naming the audience');
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002', c))),
		  '28000 401 SESSION_INVALID', 'refused: ' || name)
FROM (VALUES ('wrong audience', '{"aud":"billium-admin","iss":"https://auth.billium.test/"}'::jsonb),
			 ('audience array without ours', '{"aud":["a","b"],"iss":"https://auth.billium.test/"}'),
			 ('audience a prefix of ours', '{"aud":"billium","iss":"https://auth.billium.test/"}'),
			 ('missing audience', '{"iss":"https://auth.billium.test/"}'),
			 ('wrong issuer', '{"aud":"billium-dashboard","iss":"https://evil.test/"}'),
			 ('missing issuer', '{"aud":"billium-dashboard"}')) AS t(name, c);
RESET ROLE;
RESET billium.jwt_leeway;
SET LOCAL billium.jwt_audience = '';
SET LOCAL billium.jwt_issuer = '';
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.verdict(pg_temp.token('{"alg":"HS256"}', pg_temp.claims('d2000000-0000-0000-0000-000000000002'), '')),
		  '28000 401 SESSION_INVALID', 'a token HMAC-signed with the empty key is refused');

------------------------------------------------------------------------------------------------
-- A session's permissions: the team grant within the role's cap; none off the team.
------------------------------------------------------------------------------------------------
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000002'));
SELECT is((billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')).permissions,
		  billium_role_cap('ADMIN'), 'an ADMIN session holds the ADMIN grant on its merchant');
SELECT is(billium_principal_permissions('d1000000-0000-0000-0000-000000000001'), billium_role_cap('ADMIN'),
		  'billium_principal_permissions says the same');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('billing.retrieve', 'd1000000-0000-0000-0000-000000000001')$$),
		  '42501 403 PERMISSION_DENIED', 'but not merchant:billing, beyond the ADMIN cap');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000001'), 2::bigint, 'it sees its merchant''s invoices');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000002')$$),
		  '42501 403 NOT_A_TEAM_MEMBER', 'another merchant: 403 NOT_A_TEAM_MEMBER');
SELECT is(billium_principal_permissions('d1000000-0000-0000-0000-000000000002'), '{}'::billium_permset,
		  'and no permissions there');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000002'), 0::bigint, 'and none of its rows');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list')$$), '22023 - -',
		  'a session authorized without a merchant: 22023');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000003'));
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.delete', 'd1000000-0000-0000-0000-000000000001')$$)->'envelope'->>'required',
		  'invoice:delete', 'a MEMBER session may not delete invoices (PERMISSION_DENIED, required invoice:delete)');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.create', 'd1000000-0000-0000-0000-000000000001')$$), 'ok',
		  'but may create them');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000004'));
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.create', 'd1000000-0000-0000-0000-000000000001')$$),
		  '42501 403 PERMISSION_DENIED', 'a VIEWER session may not create invoices');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000008'));
SELECT is(billium_principal_permissions('d1000000-0000-0000-0000-000000000001'), '{invoice:view}'::billium_permset,
		  'an ADMIN granted only {invoice:view}: the session holds the grant, not the cap');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.create', 'd1000000-0000-0000-0000-000000000001')$$),
		  '42501 403 PERMISSION_DENIED', 'and may not create invoices');

------------------------------------------------------------------------------------------------
-- Security requirements: M3 requires tfa.
------------------------------------------------------------------------------------------------
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000006'));
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$) - 'hint',
		  jsonb_build_object('sqlstate', '42501',
			  'message', 'the team requires security factors this user has not enabled',
			  'detail', '{"status":403,"code":"SECURITY_REQUIREMENT_NOT_MET","message":"the team requires security factors this user has not enabled","action":"invoices.list","missing":["tfa"]}',
			  'envelope', '{"status":403,"code":"SECURITY_REQUIREMENT_NOT_MET","message":"the team requires security factors this user has not enabled","action":"invoices.list","missing":["tfa"]}'::jsonb),
		  'a session missing tfa on a team that requires it: 403 / 42501 SECURITY_REQUIREMENT_NOT_MET, missing ["tfa"]');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 0::bigint, 'through RLS it sees none of that merchant''s rows');
SELECT is(billium_principal_permissions('d1000000-0000-0000-0000-000000000003'), '{}'::billium_permset,
		  'and holds no permissions there');
SELECT is(pg_temp.outcome($$UPDATE billium.invoices SET amount = 1 WHERE merchant_id = 'd1000000-0000-0000-0000-000000000003'$$), 'ok',
		  'an UPDATE runs');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000007'));
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.create', 'd1000000-0000-0000-0000-000000000003')$$),
		  '42501 403 SECURITY_REQUIREMENT_NOT_MET',
		  'a VIEWER missing tfa asking for more than it holds: the requirement is reported before PERMISSION_DENIED');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000005'));
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$),
		  '42501 403 NOT_A_TEAM_MEMBER', 'a user off that team (and without tfa) gets NOT_A_TEAM_MEMBER, not the requirement');

SELECT FROM pg_temp.use('');
SELECT FROM billium_act_as('d2000000-0000-0000-0000-000000000006');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$), 'ok',
		  'billium_act_as of the same user is not bound by the requirement');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 1::bigint, 'and sees the row');
SELECT FROM set_config('billium.api_key', :'key3', true);
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$), 'ok',
		  'an sk key of that merchant (its creator lacks tfa too) is never subject to the requirement');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 1::bigint, 'and sees the row');

-- Trusted PostgREST claims.
SELECT FROM pg_temp.use('');
SELECT FROM set_config('request.jwt.claims', '{"role":"authenticated","sub":"d2000000-0000-0000-0000-000000000006"}', true);
SELECT FROM pg_temp.use('');
SELECT is(billium_current_principal(), NULL, 'request.jwt.claims is ignored while billium.trust_request_claims is off');
RESET ROLE;
SET LOCAL billium.trust_request_claims = on;
SET LOCAL ROLE tap_sess_app;
SELECT FROM pg_temp.use('');
SELECT is((billium_current_principal()).user_id, 'd2000000-0000-0000-0000-000000000006'::uuid,
		  'trusted: the claims'' sub is the dashboard user');
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$)->'envelope'->'missing',
		  '["tfa"]'::jsonb, 'a trusted-claims session is bound by the requirements');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 0::bigint, 'and sees none of the rows');

-- Enabling the factor takes effect at the next command of this very transaction.
RESET ROLE;
UPDATE billium.users SET tfa_enabled = true WHERE id = 'd2000000-0000-0000-0000-000000000006';
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000003')$$), 'ok',
		  'tfa enabled: the same principal is now allowed');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 1::bigint, 'and sees the row');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000006'));
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000003'), 1::bigint, 'as does a token session of that user');

SELECT FROM set_config('request.jwt.claims', '{"role":"anon"}', true);
SELECT FROM pg_temp.use('');
SELECT is(pg_temp.who(), 'none', 'trusted claims without a sub (PostgREST''s anon role): no session, not an error');
SELECT FROM set_config('request.jwt.claims', '{"sub":"d2000000-0000-0000-0000-0000000000ff"}', true);
SELECT FROM pg_temp.use('');
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), '28000 401 SESSION_INVALID',
		  'trusted claims whose sub is no user: SESSION_INVALID');
SELECT FROM set_config('request.jwt.claims', '{"sub":"anonymous"}', true);
SELECT FROM pg_temp.use('');
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), '28000 401 SESSION_INVALID',
		  'trusted claims whose sub is not a uuid: SESSION_INVALID');

------------------------------------------------------------------------------------------------
-- A transaction carries at most one principal.
------------------------------------------------------------------------------------------------
SELECT FROM set_config('request.jwt.claims', '{"sub":"d2000000-0000-0000-0000-000000000002"}', true);
SELECT FROM set_config('billium.session', '', true);
SELECT FROM set_config('billium.api_key', :'key1', true);
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$) - 'hint',
		  jsonb_build_object('sqlstate', '28000',
			  'message', 'a transaction presents an API key or a dashboard session, not both',
			  'detail', '{"status":400,"code":"PRINCIPAL_CONFLICT","message":"a transaction presents an API key or a dashboard session, not both","action":"invoices.list"}',
			  'envelope', '{"status":400,"code":"PRINCIPAL_CONFLICT","message":"a transaction presents an API key or a dashboard session, not both","action":"invoices.list"}'::jsonb),
		  'billium.api_key with trusted claims naming a user: 400 / 28000 PRINCIPAL_CONFLICT');
SELECT FROM set_config('request.jwt.claims', '{"role":"anon"}', true);
SELECT FROM set_config('billium.api_key', :'key1', true);
SELECT is(pg_temp.who(), 'api_key', 'billium.api_key with trusted claims without a sub (PostgREST anon + x-api-key): the key');
SELECT FROM set_config('billium.session', pg_temp.sess('d2000000-0000-0000-0000-000000000002'), true);
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$),
		  '28000 400 PRINCIPAL_CONFLICT', 'billium.api_key and billium.session: PRINCIPAL_CONFLICT');
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), '28000 400 PRINCIPAL_CONFLICT',
		  'billium_current_principal refuses too');
SELECT is(pg_temp.outcome('SELECT count(*) FROM billium.invoices'), '28000 400 PRINCIPAL_CONFLICT',
		  'and so does row-level security');
SELECT FROM set_config('billium.api_key', '', true);
SELECT FROM set_config('request.headers', json_build_object('x-api-key', :'key1')::text, true);
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), '28000 400 PRINCIPAL_CONFLICT',
		  'a PostgREST x-api-key header and billium.session: PRINCIPAL_CONFLICT');
SELECT FROM set_config('request.headers', '{}', true);
SELECT FROM set_config('request.jwt.claims', '', true);
SELECT FROM set_config('billium.session', '', true);

SELECT FROM set_config('billium.api_key', :'key1', true);
SELECT is(pg_temp.outcome(format('SELECT billium_authenticate_session(%L)', pg_temp.sess('d2000000-0000-0000-0000-000000000002'))),
		  '28000 400 PRINCIPAL_CONFLICT', 'billium.api_key set, then billium_authenticate_session: PRINCIPAL_CONFLICT');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000002'));
SELECT is(pg_temp.outcome(format('SELECT billium_authenticate(%L)', :'key1')),
		  '28000 400 PRINCIPAL_CONFLICT', 'billium.session set, then billium_authenticate(key): PRINCIPAL_CONFLICT');
SELECT FROM pg_temp.use('');

------------------------------------------------------------------------------------------------
-- The security flags: the OWNER only (merchant:edit is not enough), and the effect.
------------------------------------------------------------------------------------------------
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000002'));
SELECT is(pg_temp.outcome($$UPDATE billium.merchants SET enforce_passkey = true WHERE id = 'd1000000-0000-0000-0000-000000000001'$$),
		  '42501 403 PERMISSION_DENIED', 'an ADMIN session (merchant:edit) may not set enforce_passkey');
SELECT FROM set_config('billium.session', '', true);
SELECT FROM set_config('billium.api_key', :'key1', true);
SELECT is(pg_temp.outcome($$UPDATE billium.merchants SET enforce_passkey = true WHERE id = 'd1000000-0000-0000-0000-000000000001'$$),
		  '42501 403 PERMISSION_DENIED', 'nor may the OWNER''s sk key holding every permission');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000001'));
SELECT is(pg_temp.outcome($$UPDATE billium.merchants SET enforce_passkey = true, enforce_github_login = true
							 WHERE id = 'd1000000-0000-0000-0000-000000000001'$$),
		  'ok', 'the OWNER''s session may');
SELECT FROM pg_temp.use(pg_temp.sess('d2000000-0000-0000-0000-000000000002'));
SELECT is(pg_temp.refusal($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$)->'envelope'->'missing',
		  '["passkey", "githubLogin"]'::jsonb, 'and the ADMIN''s session now misses ["passkey","githubLogin"]');
SELECT is(pg_temp.seen('d1000000-0000-0000-0000-000000000001'), 0::bigint, 'and sees none of the rows');

------------------------------------------------------------------------------------------------
-- billium.error_style: postgrest's PTnnn; the envelope stays the same.
------------------------------------------------------------------------------------------------
RESET ROLE;
SET LOCAL billium.error_style = 'postgrest';
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$),
		  'PT403 403 SECURITY_REQUIREMENT_NOT_MET', 'postgrest style: SECURITY_REQUIREMENT_NOT_MET is PT403');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000002')$$),
		  'PT403 403 NOT_A_TEAM_MEMBER', 'NOT_A_TEAM_MEMBER is PT403');
SELECT is(pg_temp.verdict('garbage'), 'PT401 401 SESSION_INVALID', 'SESSION_INVALID is PT401');
SELECT is(pg_temp.verdict(pg_temp.sess('d2000000-0000-0000-0000-000000000002', -3600)), 'PT401 401 SESSION_EXPIRED',
		  'SESSION_EXPIRED is PT401');
SELECT FROM set_config('billium.api_key', :'key1', true);
SELECT is(pg_temp.outcome('SELECT billium_current_principal()'), 'PT400 400 PRINCIPAL_CONFLICT', 'PRINCIPAL_CONFLICT is PT400');
SELECT FROM pg_temp.use('');
SELECT is(pg_temp.outcome($$SELECT billium_authorize('invoices.list', 'd1000000-0000-0000-0000-000000000001')$$),
		  'PT401 401 API_KEY_MISSING', 'API_KEY_MISSING is PT401');
RESET ROLE;
SELECT is(pg_temp.outcome($$SELECT billium.billium_deny('RATE_LIMITED', 'invoices.list', NULL)$$),
		  'PT429 429 RATE_LIMITED', 'RATE_LIMITED is PT429');
SET LOCAL billium.error_style = 'standard';
SELECT is(pg_temp.outcome($$SELECT billium.billium_deny('RATE_LIMITED', 'invoices.list', NULL)$$),
		  '53400 429 RATE_LIMITED', 'standard style: RATE_LIMITED is 53400');
SET LOCAL ROLE tap_sess_app;
SELECT is(pg_temp.verdict('garbage'), '28000 401 SESSION_INVALID', 'and SESSION_INVALID 28000 again');

SELECT * FROM finish();
ROLLBACK;
