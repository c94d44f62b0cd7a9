-- Team security requirements against dashboard sessions (issue 5): every combination of the five
-- enforce_* flags (32 merchants) against every combination of a user's five factors (32 users,
-- each an ADMIN on every merchant), each user presenting an HS256 session token made here with
-- pgcrypto.  For each of the 1024 (merchant, user) pairs:
--   - billium_authorize('invoices.list', merchant) as the session: allowed when nothing is
--     missing, else 403 / 42501 / SECURITY_REQUIREMENT_NOT_MET with "missing" exactly the
--     required factors the user lacks, in the fixed order and spelling typed below;
--   - row-level security: the session sees the merchant's invoice only when nothing is missing,
--     and billium_principal_permissions is {} there otherwise;
--   - billium_act_as of the same user is never bound by the requirements, nor is an sk key of
--     the merchant (minted by an OWNER who enables no factor at all).
-- The expected missing list is computed from the fixture columns by name, never from the C bits.
BEGIN;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.4.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.4.0';
	END IF;
END $$;
SELECT plan(70);

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- base64url without padding, and an HS256 token.
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=') $$;
CREATE FUNCTION pg_temp.hs256(payload jsonb, secret text) RETURNS text LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'))
	FROM (SELECT pg_temp.b64u(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) || '.'
				 || pg_temp.b64u(convert_to(payload::text, 'UTF8')) AS s) x
$$;

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  Bit i of f (merchant) and of g (user) is factor i of the order
-- tfa, passkey, googleLogin, githubLogin, emailVerified.
------------------------------------------------------------------------------------------------
CREATE TEMP TABLE req_merchant AS
SELECT f, ('c1000000-0000-0000-0000-0000000000' || lpad(to_hex(f), 2, '0'))::uuid AS id,
	   array_remove(ARRAY[CASE WHEN f & 1 <> 0 THEN 'tfa' END, CASE WHEN f & 2 <> 0 THEN 'passkey' END,
						  CASE WHEN f & 4 <> 0 THEN 'googleLogin' END, CASE WHEN f & 8 <> 0 THEN 'githubLogin' END,
						  CASE WHEN f & 16 <> 0 THEN 'emailVerified' END], NULL)::text AS required
FROM generate_series(0, 31) f;
CREATE TEMP TABLE req_user AS
SELECT g, ('c2000000-0000-0000-0000-0000000000' || lpad(to_hex(g), 2, '0'))::uuid AS id
FROM generate_series(0, 31) g;

INSERT INTO billium.users (id, email) VALUES ('c2000000-0000-0000-0000-0000000000ff', 'owner@requirements.test');
INSERT INTO billium.merchants (id, name, enforce_tfa, enforce_passkey, enforce_google_login,
							   enforce_github_login, enforce_email_verified)
SELECT id, 'requirements ' || f, f & 1 <> 0, f & 2 <> 0, f & 4 <> 0, f & 8 <> 0, f & 16 <> 0
FROM req_merchant;
INSERT INTO billium.users (id, email, tfa_enabled, passkey_enabled, google_linked, github_linked,
						   email_verified)
SELECT id, 'user' || g || '@requirements.test', g & 1 <> 0, g & 2 <> 0, g & 4 <> 0, g & 8 <> 0, g & 16 <> 0
FROM req_user;
INSERT INTO billium.team_members (merchant_id, user_id, role)
SELECT id, 'c2000000-0000-0000-0000-0000000000ff', 'OWNER' FROM req_merchant;
INSERT INTO billium.team_members (merchant_id, user_id, role)
SELECT m.id, u.id, 'ADMIN' FROM req_merchant m CROSS JOIN req_user u;
INSERT INTO billium.invoices (merchant_id, amount, description)
SELECT id, 100 + f, 'requirements invoice ' || f FROM req_merchant;

-- An sk key per merchant, minted by the OWNER (who has no factor enabled).
CREATE TEMP TABLE req_key AS
SELECT f, id AS merchant_id, billium.billium_test_key(id, 'sk', '{invoice:*}') AS api_key FROM req_merchant;

-- The expected missing list, from the columns by name, in the order the issue fixes.
CREATE TEMP TABLE req_expected AS
SELECT m.f, u.g, m.id AS merchant_id, u.id AS user_id,
	   to_jsonb(array_remove(ARRAY[
		   CASE WHEN bm.enforce_tfa AND NOT bu.tfa_enabled THEN 'tfa' END,
		   CASE WHEN bm.enforce_passkey AND NOT bu.passkey_enabled THEN 'passkey' END,
		   CASE WHEN bm.enforce_google_login AND NOT bu.google_linked THEN 'googleLogin' END,
		   CASE WHEN bm.enforce_github_login AND NOT bu.github_linked THEN 'githubLogin' END,
		   CASE WHEN bm.enforce_email_verified AND NOT bu.email_verified THEN 'emailVerified' END
	   ]::text[], NULL)) AS missing
FROM req_merchant m JOIN billium.merchants bm ON bm.id = m.id
CROSS JOIN req_user u JOIN billium.users bu ON bu.id = u.id;

-- Signed with the test cluster's billium.jwt_secret (postgresql.conf, scripts/lib.sh).
CREATE TEMP TABLE req_token AS
SELECT g, id AS user_id,
	   pg_temp.hs256(jsonb_build_object('sub', id, 'exp', floor(extract(epoch FROM now()))::bigint + 600),
					 'billium-test-cluster-jwt-secret-32b!') AS token
FROM req_user;

-- Results, written by the ordinary role.
CREATE TEMP TABLE req_result (kind text, f int, g int, sqlstate text, status int, code text,
							  missing jsonb, rows_seen bigint, permissions text);

CREATE ROLE tap_req_app LOGIN;
GRANT billium_api, billium_admin TO tap_req_app;
GRANT ALL ON req_merchant, req_user, req_key, req_expected, req_token, req_result TO tap_req_app;

SET LOCAL ROLE tap_req_app;
SET LOCAL search_path = public, billium;

-- One billium_authorize as the current principal: its SQLSTATE and envelope, or nulls.
CREATE FUNCTION pg_temp.try_authorize(m uuid, OUT state text, OUT envelope jsonb)
	LANGUAGE plpgsql AS $$
DECLARE
	det text;
BEGIN
	PERFORM billium_authorize('invoices.list', m);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
	BEGIN
		envelope := det::jsonb;
	EXCEPTION WHEN OTHERS THEN
		envelope := to_jsonb(det);
	END;
END
$$;

-- kind: session (the token), act_as (the same user without a token), key (the merchant's sk key).
DO $$
DECLARE
	t record; m record; k record; r record;
BEGIN
	FOR t IN SELECT * FROM req_token ORDER BY g LOOP
		PERFORM set_config('billium.api_key', '', true);
		PERFORM set_config('billium.session', t.token, true);
		FOR m IN SELECT * FROM req_merchant ORDER BY f LOOP
			SELECT * INTO r FROM pg_temp.try_authorize(m.id);
			INSERT INTO req_result VALUES ('session', m.f, t.g, r.state, (r.envelope->>'status')::int,
				r.envelope->>'code', CASE WHEN r.state IS NULL THEN '[]'::jsonb ELSE r.envelope->'missing' END,
				(SELECT count(*) FROM billium.invoices i WHERE i.merchant_id = m.id),
				billium_principal_permissions(m.id)::text);
		END LOOP;
		PERFORM set_config('billium.session', '', true);
		PERFORM billium_act_as(t.user_id);
		FOR m IN SELECT * FROM req_merchant ORDER BY f LOOP
			SELECT * INTO r FROM pg_temp.try_authorize(m.id);
			INSERT INTO req_result VALUES ('act_as', m.f, t.g, r.state, (r.envelope->>'status')::int,
				r.envelope->>'code', NULL,
				(SELECT count(*) FROM billium.invoices i WHERE i.merchant_id = m.id),
				billium_principal_permissions(m.id)::text);
		END LOOP;
	END LOOP;
	PERFORM set_config('billium.session', '', true);
	FOR k IN SELECT * FROM req_key ORDER BY f LOOP
		PERFORM set_config('billium.api_key', k.api_key, true);
		SELECT * INTO r FROM pg_temp.try_authorize(k.merchant_id);
		INSERT INTO req_result VALUES ('key', k.f, NULL, r.state, (r.envelope->>'status')::int,
			r.envelope->>'code', NULL,
			(SELECT count(*) FROM billium.invoices i WHERE i.merchant_id = k.merchant_id),
			billium_principal_permissions(k.merchant_id)::text);
	END LOOP;
	PERFORM set_config('billium.api_key', '', true);
END
$$;

SELECT is((SELECT count(*) FROM req_result WHERE kind = 'session'), 1024::bigint,
		  'all 32 x 32 (requirements, factors) pairs were tried as a session');

-- Per requirement combination: the gate's verdict for each of the 32 users.
SELECT is(
	(SELECT string_agg(format('user %s: %s', r.g, CASE WHEN r.sqlstate IS NULL THEN 'allowed'
							  ELSE format('%s %s %s %s', r.sqlstate, r.status, r.code, r.missing) END),
					   '; ' ORDER BY r.g)
	 FROM req_result r WHERE r.kind = 'session' AND r.f = m.f),
	(SELECT string_agg(format('user %s: %s', e.g, CASE WHEN e.missing = '[]' THEN 'allowed'
							  ELSE format('42501 403 SECURITY_REQUIREMENT_NOT_MET %s', e.missing) END),
					   '; ' ORDER BY e.g)
	 FROM req_expected e WHERE e.f = m.f),
	format('requirements %s: billium_authorize lists exactly the missing factors of every user', m.required))
FROM req_merchant m ORDER BY m.f;

-- Per requirement combination: what row-level security lets each user's session see and do.
SELECT is(
	(SELECT string_agg(format('user %s: %s rows, %s', r.g, r.rows_seen,
							  CASE WHEN r.permissions = '{}' THEN 'no permissions' ELSE 'permissions' END),
					   '; ' ORDER BY r.g)
	 FROM req_result r WHERE r.kind = 'session' AND r.f = m.f),
	(SELECT string_agg(format('user %s: %s rows, %s', e.g, CASE WHEN e.missing = '[]' THEN 1 ELSE 0 END,
							  CASE WHEN e.missing = '[]' THEN 'permissions' ELSE 'no permissions' END),
					   '; ' ORDER BY e.g)
	 FROM req_expected e WHERE e.f = m.f),
	format('requirements %s: through RLS a session sees the merchant''s row only when it misses nothing', m.required))
FROM req_merchant m ORDER BY m.f;

SELECT is((SELECT count(*) FROM req_result WHERE kind = 'session' AND sqlstate IS NULL
			 AND permissions <> billium_role_cap('ADMIN')::text),
		  0::bigint, 'an allowed session holds its whole ADMIN grant there');
SELECT is((SELECT count(*) FROM req_result r JOIN req_expected e USING (f, g)
		   WHERE r.kind = 'session' AND e.missing = '[]'),
		  243::bigint, '243 of the 1024 pairs miss nothing (3^5: per factor, not required, or required and enabled)');
SELECT is((SELECT array_agg(DISTINCT format('%s/%s', f, g)) FROM req_result
		   WHERE kind = 'act_as' AND (sqlstate IS NOT NULL OR rows_seen <> 1 OR permissions = '{}')),
		  NULL, 'billium_act_as is never bound by the requirements: every user is allowed and sees every merchant''s row');
SELECT is((SELECT array_agg(f ORDER BY f) FROM req_result
		   WHERE kind = 'key' AND (sqlstate IS NOT NULL OR rows_seen <> 1 OR permissions = '{}')),
		  NULL, 'an sk key is never subject to its merchant''s requirements (even when its creator misses every factor)');
SELECT is((SELECT count(*) FROM req_result WHERE kind = 'key'), 32::bigint, 'and all 32 keys were tried');

SELECT * FROM finish();
ROLLBACK;
