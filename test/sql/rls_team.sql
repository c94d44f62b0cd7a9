-- Row-level security over the team (issue 4): opening a merchant, inviting, removing and
-- changing roles, nobody granting above their own, the one OWNER and billium_transfer_ownership,
-- the security flags, billing, key hashes, and the audit trail of it all.  Fixtures are written
-- as the superuser; everything else runs as regress_rls_team, a login role granted billium_api
-- and billium_admin (for billium_act_as), so the policies apply.
SET client_min_messages = warning;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.3.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.3.0';
	END IF;
END $$;
RESET client_min_messages;
CREATE ROLE regress_rls_team LOGIN;
GRANT billium_api, billium_admin TO regress_rls_team;
CREATE ROLE regress_rls_plain LOGIN;
GRANT billium_api TO regress_rls_plain;
SET search_path = billium, public;
\set VERBOSITY default
\set SHOW_CONTEXT never
-- A refused statement inside a transaction rolls back to just before it (psql's savepoints),
-- so the principal set at the start of the transaction stays.
\set ON_ERROR_ROLLBACK on

------------------------------------------------------------------------------------------------
-- Fixtures (superuser): merchant one with an OWNER, an ADMIN, a MEMBER and a VIEWER, plus an
-- ADMIN whose grant lacks webhook:delete; merchant two of an outsider; two users on no team.
------------------------------------------------------------------------------------------------
INSERT INTO merchants (id, name) VALUES
	('e4000000-0000-0000-0000-000000000001', 'rls team one'),
	('e4000000-0000-0000-0000-000000000002', 'rls team two');
INSERT INTO users (id, email) VALUES
	('e4100000-0000-0000-0000-000000000001', 'owner@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000002', 'admin@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000003', 'member@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000004', 'viewer@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000005', 'narrow@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000006', 'outsider@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000007', 'newbie@rls-team.regress'),
	('e4100000-0000-0000-0000-000000000008', 'founder@rls-team.regress');
INSERT INTO team_members (merchant_id, user_id, role, permissions) VALUES
	('e4000000-0000-0000-0000-000000000001', 'e4100000-0000-0000-0000-000000000001', 'OWNER', NULL),
	('e4000000-0000-0000-0000-000000000001', 'e4100000-0000-0000-0000-000000000002', 'ADMIN', NULL),
	('e4000000-0000-0000-0000-000000000001', 'e4100000-0000-0000-0000-000000000003', 'MEMBER', NULL),
	('e4000000-0000-0000-0000-000000000001', 'e4100000-0000-0000-0000-000000000004', 'VIEWER', NULL),
	('e4000000-0000-0000-0000-000000000001', 'e4100000-0000-0000-0000-000000000005', 'ADMIN',
	 billium_role_cap('ADMIN') - '{webhook:delete}'),
	('e4000000-0000-0000-0000-000000000002', 'e4100000-0000-0000-0000-000000000006', 'OWNER', NULL);
INSERT INTO merchant_billing (merchant_id, plan) VALUES ('e4000000-0000-0000-0000-000000000001', 'pro');

-- Names for the ids in the output.
CREATE FUNCTION pg_temp.who(id uuid) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE id
		WHEN 'e4100000-0000-0000-0000-000000000001' THEN 'owner'
		WHEN 'e4100000-0000-0000-0000-000000000002' THEN 'admin'
		WHEN 'e4100000-0000-0000-0000-000000000003' THEN 'member'
		WHEN 'e4100000-0000-0000-0000-000000000004' THEN 'viewer'
		WHEN 'e4100000-0000-0000-0000-000000000005' THEN 'narrow'
		WHEN 'e4100000-0000-0000-0000-000000000006' THEN 'outsider'
		WHEN 'e4100000-0000-0000-0000-000000000007' THEN 'newbie'
		WHEN 'e4100000-0000-0000-0000-000000000008' THEN 'founder'
		ELSE coalesce(id::text, '-') END
$$;
\set m1 '''e4000000-0000-0000-0000-000000000001'''
\set m2 '''e4000000-0000-0000-0000-000000000002'''
\set owner '''e4100000-0000-0000-0000-000000000001'''
\set admin '''e4100000-0000-0000-0000-000000000002'''
\set member '''e4100000-0000-0000-0000-000000000003'''
\set viewer '''e4100000-0000-0000-0000-000000000004'''
\set narrow '''e4100000-0000-0000-0000-000000000005'''
\set outsider '''e4100000-0000-0000-0000-000000000006'''
\set newbie '''e4100000-0000-0000-0000-000000000007'''
\set founder '''e4100000-0000-0000-0000-000000000008'''

-- Keys (superuser, through the fixture function): an sk of merchant one's OWNER holding
-- team:view only, one holding api_key:view only, one holding everything, and a pk.
SELECT billium_test_key(:m1, 'sk', '{team:view}') AS team_view_key \gset
SELECT billium_test_key(:m1, 'sk', '{api_key:view}') AS key_view_key \gset
SELECT billium_test_key(:m1, 'sk', '{*}') AS full_key \gset
SELECT billium_test_key(:m1, 'pk', '{invoice:create,invoice:view,product:view}') AS public_key \gset

SET ROLE regress_rls_team;

------------------------------------------------------------------------------------------------
-- No principal: no rows, and every write refused.
------------------------------------------------------------------------------------------------
SELECT (SELECT count(*) FROM merchants) AS merchants, (SELECT count(*) FROM users) AS users,
	   (SELECT count(*) FROM team_members) AS team, (SELECT count(*) FROM api_keys) AS keys,
	   (SELECT count(*) FROM audit_log) AS audit, (SELECT count(*) FROM merchant_billing) AS billing;
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :newbie, 'VIEWER');
WITH changed AS (UPDATE merchants SET name = 'nobody was here' RETURNING 1) SELECT count(*) AS renamed FROM changed;
WITH gone AS (DELETE FROM team_members RETURNING 1) SELECT count(*) AS removed FROM gone;
SELECT billium_create_merchant('nobody''s shop');

------------------------------------------------------------------------------------------------
-- Opening a merchant: any dashboard session, which becomes its OWNER; never a key.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:founder);
SELECT billium_create_merchant('founder''s shop') AS shop \gset
SELECT m.name, pg_temp.who(tm.user_id), tm.role, billium_permset_count(tm.permissions) AS permissions
FROM merchants m JOIN team_members tm ON tm.merchant_id = m.id;
-- Audited as the OWNER joining the team.
SELECT category, action, principal_kind, pg_temp.who(user_id) AS who, key_id, before, after->>'role' AS role
FROM audit_log WHERE merchant_id = :'shop';
COMMIT;
BEGIN;
SET LOCAL billium.api_key = :'full_key';
SELECT billium_create_merchant('a key''s shop');
ROLLBACK;

------------------------------------------------------------------------------------------------
-- What each sees: the OWNER the whole team and the billing row; the ADMIN the team but not the
-- billing; a user sees itself and its teams' users; an outsider only its own merchant.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:owner);
SELECT pg_temp.who(user_id), role, billium_permset_count(permissions) AS permissions
FROM team_members ORDER BY role, pg_temp.who(user_id);
SELECT plan FROM merchant_billing;
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
SELECT count(*) AS team FROM team_members;
SELECT count(*) AS billing_rows FROM merchant_billing;
WITH changed AS (UPDATE merchant_billing SET plan = 'free' RETURNING 1) SELECT count(*) AS billing_changed FROM changed;
SELECT count(*) AS users_seen FROM users;
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:outsider);
SELECT name FROM merchants;
SELECT pg_temp.who(id) FROM users;
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:newbie);	-- on no team: sees itself only
SELECT pg_temp.who(id) FROM users;
SELECT count(*) AS merchants FROM merchants;
COMMIT;

------------------------------------------------------------------------------------------------
-- Inviting (team:invite), within the inviter's own permissions.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:admin);
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :newbie, 'member')
RETURNING pg_temp.who(user_id), role, billium_permset_count(permissions) AS permissions;
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
-- A second OWNER, or a grant above the ADMIN's own: refused.
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :founder, 'OWNER');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
INSERT INTO team_members (merchant_id, user_id, role, permissions)
VALUES (:m1, :founder, 'ADMIN', '{merchant:billing}');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:narrow);	-- an ADMIN without webhook:delete
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :founder, 'ADMIN');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:narrow);	-- ... may invite a MEMBER
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :founder, 'MEMBER')
RETURNING pg_temp.who(user_id), role;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:viewer);	-- no team:invite
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m1, :founder, 'VIEWER');
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);	-- not on merchant two's team
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m2, :founder, 'VIEWER');
ROLLBACK;

------------------------------------------------------------------------------------------------
-- Changing roles and grants (team:manage_roles); the OWNER is never demoted or promoted to.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:admin);
UPDATE team_members SET role = 'VIEWER' WHERE user_id = :newbie
RETURNING pg_temp.who(user_id), role, billium_permset_count(permissions) AS permissions;
UPDATE team_members SET permissions = '{merchant:view,invoice:view}' WHERE user_id = :newbie
RETURNING pg_temp.who(user_id), role, permissions;
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
UPDATE team_members SET role = 'OWNER' WHERE user_id = :member;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
UPDATE team_members SET role = 'ADMIN', permissions = billium_role_cap('ADMIN') | '{merchant:billing}'
WHERE user_id = :member;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
UPDATE team_members SET role = 'ADMIN' WHERE user_id = :owner;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
UPDATE team_members SET permissions = '{merchant:view}' WHERE user_id = :owner;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:narrow);	-- may not raise anyone to a full ADMIN
UPDATE team_members SET role = 'ADMIN' WHERE user_id = :member;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:owner);	-- nor may the OWNER narrow its own grant
UPDATE team_members SET permissions = billium_role_cap('OWNER') - '{report:view}' WHERE user_id = :owner;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
-- A statement over the whole team that changes nothing passes the OWNER's row untouched.
WITH changed AS (UPDATE team_members SET role = role RETURNING 1) SELECT count(*) AS rows_updated FROM changed;
-- A membership does not move.
UPDATE team_members SET user_id = :founder WHERE user_id = :member;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:member);	-- no team:manage_roles: the rows are not there
WITH changed AS (UPDATE team_members SET role = 'VIEWER' WHERE user_id = :viewer RETURNING 1)
SELECT count(*) AS changed FROM changed;
ROLLBACK;

------------------------------------------------------------------------------------------------
-- Removing (team:remove); never the OWNER.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:admin);
DELETE FROM team_members WHERE user_id = :owner;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:member);	-- no team:remove
WITH gone AS (DELETE FROM team_members WHERE user_id = :newbie RETURNING 1) SELECT count(*) AS removed FROM gone;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);
DELETE FROM team_members WHERE user_id = :newbie RETURNING pg_temp.who(user_id);
COMMIT;

------------------------------------------------------------------------------------------------
-- Transferring ownership: the OWNER alone, in a dashboard session.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:admin);
SELECT billium_transfer_ownership(:m1, :admin);
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'full_key';
SELECT billium_transfer_ownership(:m1, :admin);
ROLLBACK;
BEGIN;
SELECT billium_transfer_ownership(:m1, :admin);
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:owner);
SELECT billium_transfer_ownership(:m1, :newbie);	-- not on the team
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:owner);
SELECT billium_transfer_ownership(:m1, :owner);
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:owner);
SELECT billium_transfer_ownership(:m1, :admin);
SELECT pg_temp.who(user_id), role, billium_permset_count(permissions) AS permissions
FROM team_members WHERE role IN ('OWNER', 'ADMIN') ORDER BY role DESC, pg_temp.who(user_id);
COMMIT;
BEGIN;
SELECT kind FROM billium_act_as(:owner);	-- now an ADMIN: cannot take it back
SELECT billium_transfer_ownership(:m1, :owner);
ROLLBACK;

------------------------------------------------------------------------------------------------
-- The security flags: the OWNER (now admin) in a dashboard session; not an ADMIN, not a key.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:owner);	-- an ADMIN with merchant:edit
UPDATE merchants SET enforce_tfa = true WHERE id = :m1;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:owner);	-- ... may rename it
UPDATE merchants SET name = 'rls team one, renamed' WHERE id = :m1 RETURNING name, enforce_tfa;
COMMIT;
BEGIN;
SET LOCAL billium.api_key = :'full_key';
UPDATE merchants SET enforce_passkey = true WHERE id = :m1;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:admin);	-- the OWNER
UPDATE merchants SET enforce_tfa = true, enforce_email_verified = true WHERE id = :m1
RETURNING enforce_tfa, enforce_passkey, enforce_email_verified;
COMMIT;

------------------------------------------------------------------------------------------------
-- merchant:delete gates deleting a merchant; its team goes with it (the OWNER too).
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:owner);	-- an ADMIN: no merchant:delete
WITH gone AS (DELETE FROM merchants WHERE id = :m1 RETURNING 1) SELECT count(*) AS deleted FROM gone;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:founder);
DELETE FROM merchants WHERE id = :'shop' RETURNING name;
SELECT count(*) AS founder_merchants FROM merchants;
COMMIT;

------------------------------------------------------------------------------------------------
-- Keys: readable with api_key:view, never key_hash; written only through the key functions.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:member);
SELECT key_type, hint ~ '^(sk|pk)_\.\.\.[0-9A-Za-z]{4}$' AS hint_ok, billium_permset_count(permissions) AS permissions,
	   created_by = :owner AS by_owner, created_at IS NOT NULL AS created, expires_at, revoked_at
FROM api_keys WHERE merchant_id = :m1 ORDER BY key_type DESC, 3;
SELECT key_hash FROM api_keys;
SELECT * FROM api_keys;
UPDATE api_keys SET revoked_at = now();
DELETE FROM api_keys;
INSERT INTO api_keys (merchant_id, key_type, hint, key_hash, permissions, created_by)
VALUES (:m1, 'sk', 'x', '\x00', '{}', :member);
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'public_key';	-- a pk key sees no keys, team or merchants
SELECT (SELECT count(*) FROM api_keys) AS keys, (SELECT count(*) FROM team_members) AS team,
	   (SELECT count(*) FROM merchants) AS merchants, (SELECT count(*) FROM users) AS users,
	   (SELECT count(*) FROM audit_log) AS audit;
ROLLBACK;

-- Key events through the key functions: create, edit, roll (a create and the old key's
-- expiry), revoke.
BEGIN;
SELECT kind FROM billium_act_as(:admin);
SELECT id AS made FROM billium_create_api_key(:m1, 'sk', '{invoice:view}', 'audited') \gset
SELECT billium_update_api_key(:'made', '{invoice:view,invoice:create}', 'audited, renamed');
SELECT id AS rolled FROM billium_roll_api_key(:'made', '1 hour') \gset
SELECT billium_revoke_api_key(:'rolled');
COMMIT;

-- A key changes a grant: the trail names the key and its creator.
BEGIN;
SET LOCAL billium.api_key = :'full_key';
UPDATE team_members SET permissions = '{merchant:view}' WHERE user_id = :viewer
RETURNING pg_temp.who(user_id), role, permissions;
COMMIT;

------------------------------------------------------------------------------------------------
-- The audit trail, as merchant one's OWNER: every change above, with the principal; never a
-- key or its hash.  The superuser's fixtures have no principal.
------------------------------------------------------------------------------------------------
BEGIN;
SELECT kind FROM billium_act_as(:admin);
SELECT category, action, principal_kind AS kind, pg_temp.who(user_id) AS who, key_id IS NOT NULL AS by_key,
	   coalesce(pg_temp.who((coalesce(after, before)->>'user_id')::uuid), after->>'name', '') AS subject,
	   coalesce(before->>'role', '') AS role_before, coalesce(after->>'role', '') AS role_after,
	   CASE WHEN category = 'team' THEN coalesce(jsonb_array_length(after->'permissions')::text, '') ELSE '' END AS grant_after
FROM audit_log WHERE merchant_id = :m1 AND category <> 'api_key' ORDER BY id;
SELECT action, after->>'name' AS name, after->'permissions' AS permissions,
	   (before->>'expires_at') IS NULL AS had_no_expiry, (after->>'expires_at') IS NOT NULL AS expires,
	   (after->>'revoked_at') IS NOT NULL AS revoked
FROM audit_log WHERE merchant_id = :m1 AND category = 'api_key' AND principal_kind = 'user' ORDER BY id;
SELECT before, after FROM audit_log WHERE merchant_id = :m1 AND category = 'security';
SELECT count(*) AS rows_with_a_hash FROM audit_log
WHERE before ? 'key_hash' OR after ? 'key_hash' OR before::text ~ '[sp]k_[0-9A-Za-z]{20}' OR after::text ~ '[sp]k_[0-9A-Za-z]{20}';
-- Nobody updates or deletes it through the API.
UPDATE audit_log SET action = 'nothing happened';
DELETE FROM audit_log;
INSERT INTO audit_log (merchant_id, category, action) VALUES (:m1, 'team', 'forged');
ROLLBACK;

-- team:view reads team and security events; api_key:view reads key events.
BEGIN;
SET LOCAL billium.api_key = :'team_view_key';
SELECT category, count(*) > 0 AS some FROM audit_log GROUP BY category ORDER BY category;
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'key_view_key';
SELECT category, count(*) > 0 AS some FROM audit_log GROUP BY category ORDER BY category;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:outsider);	-- another merchant's trail
SELECT count(*) AS other_merchants_events FROM audit_log WHERE merchant_id = :m1;
ROLLBACK;

------------------------------------------------------------------------------------------------
-- The fixture functions: billium_admin and superusers only.
------------------------------------------------------------------------------------------------
SELECT merchant_id IS NOT NULL AS merchant, owner_id IS NOT NULL AS owner
FROM billium_test_merchant('fixture shop', 'fixture-owner@rls-team.regress') \gset fx_
SELECT :'fx_merchant' AS merchant, :'fx_owner' AS owner;
SELECT mid AS fx_mid, oid_ AS fx_oid FROM (SELECT merchant_id AS mid, owner_id AS oid_
	FROM billium_test_merchant('fixture shop two', 'fixture-owner@rls-team.regress')) AS t \gset
SELECT billium_test_member(:'fx_mid', 'fixture-viewer@rls-team.regress', 'viewer') IS NOT NULL AS member;
SELECT billium_key_is_well_formed(billium_test_key(:'fx_mid', 'pk', '{invoice:view}')) AS key_ok;
BEGIN;
SELECT kind FROM billium_act_as(:'fx_oid');
SELECT m.name, tm.role, count(*) OVER () AS team
FROM merchants m JOIN team_members tm ON tm.merchant_id = m.id
WHERE m.id = :'fx_mid' ORDER BY tm.role;
ROLLBACK;
RESET ROLE;
SET ROLE regress_rls_plain;
SELECT billium_test_merchant('not allowed', 'nope@rls-team.regress');
SELECT billium_test_key(:m1, 'sk', '{}');
RESET ROLE;

-- A restore (pg_dump's scripts run with row_security = off, and no principal) reloads rows
-- without logging them again; a superuser's ordinary write is logged.
SET row_security = off;
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m2, :newbie, 'VIEWER');
RESET row_security;
INSERT INTO team_members (merchant_id, user_id, role) VALUES (:m2, :founder, 'VIEWER');
SELECT pg_temp.who((after->>'user_id')::uuid), action, principal_kind FROM audit_log
WHERE merchant_id = :m2 AND (after->>'user_id')::uuid IN (:newbie, :founder);

-- Cleanup of the roles (cluster-wide); the rows stay with the database.
DROP ROLE regress_rls_plain;
DROP ROLE regress_rls_team;
