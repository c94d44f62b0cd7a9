-- Rolling a key, and the other ways a caller could end up holding or handing out a key more
-- powerful than itself (issue 12, item 1; SECURITY-CHECKLIST, "Escalation"):
--   (a) rolling is held to the rule of creating: the caller must hold every permission of the
--       rolled key's grant, else 403 PERMISSION_DENIED naming the excess, and nothing changes;
--   (b) the replacement keeps the old key's grant, type, creator and parent (the roller never
--       becomes its parent) and records who rolled it;
--   (c) the grace period is bounded by billium.max_roll_grace, a superuser-only setting;
--   (d) creating, updating and narrowing by a key never exceed the key; a demoted creator's keys
--       shrink, and so do their replacements.
-- One transaction, rolled back; the principal is switched with billium_act_as and
-- billium_authenticate.  Row contents are read as the superuser (RESET ROLE), through to_jsonb
-- so that a column this version lacks reads as null rather than stopping the file.
BEGIN;
SELECT plan(51);

INSERT INTO billium.merchants (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'roll merchant');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner@key-roll.test'),
	('b0000000-0000-0000-0000-000000000002', 'admin@key-roll.test'),
	('b0000000-0000-0000-0000-000000000003', 'member@key-roll.test'),
	('b0000000-0000-0000-0000-000000000004', 'admin-demoted@key-roll.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', 'ADMIN'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003', 'MEMBER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'ADMIN');

CREATE ROLE tap_roll LOGIN;
GRANT billium_api, billium_admin TO tap_roll;
SET LOCAL ROLE tap_roll;
SET LOCAL search_path = public, billium;

-- refusal(sql): null when sql runs, else its SQLSTATE, message, detail and the detail parsed as
-- the JSON envelope.  outcome(sql): 'ok', or 'SQLSTATE status CODE'.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; env jsonb;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	BEGIN
		env := det::jsonb;
	EXCEPTION WHEN OTHERS THEN
		env := to_jsonb(det);
	END;
	RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', det, 'envelope', env);
END
$$;
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(r->>'sqlstate' || ' ' || coalesce(r->'envelope'->>'status', '-') || ' '
					|| coalesce(r->'envelope'->>'code', '-'), 'ok')
	FROM (SELECT pg_temp.refusal(sql) AS r) s
$$;
CREATE TEMP TABLE keys (label text PRIMARY KEY, id uuid NOT NULL, api_key text NOT NULL);
CREATE FUNCTION pg_temp.k(label text) RETURNS text LANGUAGE sql STABLE AS
	$$ SELECT api_key FROM keys WHERE keys.label = k.label $$;
CREATE FUNCTION pg_temp.kid(label text) RETURNS uuid LANGUAGE sql STABLE AS
	$$ SELECT id FROM keys WHERE keys.label = kid.label $$;
-- A key's row as the superuser sees it (call after RESET ROLE), without its hash.
CREATE FUNCTION pg_temp.row_of(label text) RETURNS jsonb LANGUAGE sql STABLE AS
	$$ SELECT to_jsonb(t) - 'key_hash' FROM billium.api_keys t WHERE t.id = pg_temp.kid(label) $$;
CREATE FUNCTION pg_temp.key_count() RETURNS bigint LANGUAGE sql STABLE AS
	$$ SELECT count(*) FROM billium.api_keys WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' $$;
CREATE TEMP TABLE snapshot (n bigint, rows jsonb);
GRANT ALL ON keys, snapshot TO PUBLIC;

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys SELECT 'owner all', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'owner all');
INSERT INTO keys SELECT 'key editor', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:view,api_key:edit}', 'key editor');
INSERT INTO keys SELECT 'owner invoices', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}', 'owner invoices');
INSERT INTO keys SELECT 'roller', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:*,invoice:*}', 'roller');
INSERT INTO keys SELECT 'minter', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:*,invoice:*}', 'minter');
INSERT INTO keys SELECT 'grace', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'grace');
INSERT INTO keys SELECT 'expiring', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'expiring', now() + interval '1 day');
SELECT is((SELECT count(*) FROM keys), 7::bigint, 'the OWNER creates the keys the tests roll');

------------------------------------------------------------------------------------------------
-- (a) The issue's reproduction: a key holding {api_key:view,api_key:edit}, then an ADMIN session,
-- roll the OWNER's {*} key.  Refused, naming the excess; no key made, the old key untouched.
------------------------------------------------------------------------------------------------

RESET ROLE;
INSERT INTO snapshot SELECT pg_temp.key_count(), pg_temp.row_of('owner all');
SET LOCAL ROLE tap_roll;

SELECT is((billium_authenticate(pg_temp.k('key editor'))).kind, 'api_key', 'authenticate the {api_key:view,api_key:edit} key');
SELECT is(pg_temp.outcome($$SELECT * FROM billium_roll_api_key(pg_temp.kid('owner all'), '30 days')$$),
	'42501 403 PERMISSION_DENIED', 'that key rolling the OWNER''s {*} key: 42501, 403 PERMISSION_DENIED');
SELECT is((SELECT jsonb_array_length(pg_temp.refusal($$SELECT * FROM billium_roll_api_key(pg_temp.kid('owner all'))$$) #> '{envelope,excess}')),
	32, 'the excess names the 32 permissions the key lacks');
SELECT is(pg_temp.refusal($$SELECT * FROM billium_roll_api_key(pg_temp.kid('owner all'))$$) #>> '{envelope,action}',
	'api_keys.roll', 'the envelope names the action api_keys.roll');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).kind, 'user', 'act as the ADMIN');
SELECT is(pg_temp.outcome($$SELECT * FROM billium_roll_api_key(pg_temp.kid('owner all'), '1 hour')$$),
	'42501 403 PERMISSION_DENIED', 'the ADMIN rolling the OWNER''s {*} key: 42501, 403 PERMISSION_DENIED');
SELECT is(pg_temp.refusal($$SELECT * FROM billium_roll_api_key(pg_temp.kid('owner all'))$$) #> '{envelope,excess}',
	'["merchant:delete","merchant:billing"]'::jsonb, 'the excess names merchant:delete and merchant:billing');

RESET ROLE;
SELECT is(pg_temp.key_count(), (SELECT n FROM snapshot), 'after the refused rolls: no key was made');
SELECT is(pg_temp.row_of('owner all'), (SELECT rows FROM snapshot),
	'after the refused rolls: the OWNER''s key is unchanged (no expiry set)');
SET LOCAL ROLE tap_roll;
SELECT is(pg_temp.outcome($$SELECT billium_key_verify(pg_temp.k('owner all'))$$), 'ok', 'and it still verifies');

------------------------------------------------------------------------------------------------
-- (b) A roll the caller may make: the replacement keeps grant, type, creator and parent, and
-- records who rolled it.
------------------------------------------------------------------------------------------------

-- The ADMIN holds invoice:*: it may roll the OWNER's {invoice:*} key.
INSERT INTO keys SELECT 'invoices 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('owner invoices'), '1 hour');
SELECT is((billium_key_verify(pg_temp.k('invoices 2'))).permissions, '{invoice:*}',
	'the ADMIN rolls the OWNER''s {invoice:*} key; the replacement verifies with {invoice:*}');
RESET ROLE;
SELECT is(pg_temp.row_of('invoices 2') -> 'created_by', to_jsonb('b0000000-0000-0000-0000-000000000001'::uuid),
	'its creator is still the OWNER, not the ADMIN who rolled it');
SELECT is(pg_temp.row_of('invoices 2') ->> 'created_by_key', NULL, 'it has no parent, as the old key had none');
SELECT is(pg_temp.row_of('invoices 2') ->> 'rolled_from', pg_temp.kid('owner invoices')::text,
	'rolled_from names the key it replaces');
SELECT is(pg_temp.row_of('invoices 2') ->> 'rolled_by_user', 'b0000000-0000-0000-0000-000000000002',
	'rolled_by_user names the ADMIN');
SELECT is(pg_temp.row_of('invoices 2') ->> 'rolled_by_key', NULL, 'rolled_by_key is null: a session rolled it');
SELECT is((SELECT after ->> 'rolled_by_user' FROM billium.audit_log
		   WHERE action = 'api_keys.create' AND after ->> 'id' = pg_temp.kid('invoices 2')::text),
	'b0000000-0000-0000-0000-000000000002', 'the audit trail''s create of the replacement records who rolled it');
SET LOCAL ROLE tap_roll;

-- A key rolls a key: the roller is recorded, never made the parent.
SELECT is((billium_authenticate(pg_temp.k('roller'))).kind, 'api_key', 'authenticate the {api_key:*,invoice:*} key');
INSERT INTO keys SELECT 'invoices 3', id, api_key FROM billium_roll_api_key(pg_temp.kid('invoices 2'));
RESET ROLE;
SELECT is(pg_temp.row_of('invoices 3') ->> 'created_by_key', NULL,
	'rolled by a key: the replacement''s parent is the old key''s (none), not the roller');
SELECT is(pg_temp.row_of('invoices 3') ->> 'rolled_by_key', pg_temp.kid('roller')::text,
	'rolled_by_key names the rolling key');
SELECT is(pg_temp.row_of('invoices 3') ->> 'rolled_by_user', 'b0000000-0000-0000-0000-000000000001',
	'rolled_by_user names the rolling key''s creator');
SET LOCAL ROLE tap_roll;
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
SELECT lives_ok($$SELECT billium_revoke_api_key(pg_temp.kid('roller'))$$, 'the OWNER revokes the rolling key');
SELECT is((billium_key_verify(pg_temp.k('invoices 3'))).key_id, pg_temp.kid('invoices 3'),
	'the replacement it made still verifies: revoking the roller does not take it along');

-- A child key rolled: the replacement keeps the parent (and lives and dies with it).
SELECT is((billium_authenticate(pg_temp.k('minter'))).kind, 'api_key', 'authenticate the minting key');
INSERT INTO keys SELECT 'child', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'child');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys SELECT 'child 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('child'));
RESET ROLE;
SELECT is(pg_temp.row_of('child 2') ->> 'created_by_key', pg_temp.kid('minter')::text,
	'a child rolled by the OWNER: the replacement''s parent is still the minting key');
SELECT is(pg_temp.row_of('child 2') ->> 'key_type', 'sk', 'and its type is the old key''s');
SET LOCAL ROLE tap_roll;

------------------------------------------------------------------------------------------------
-- (c) The grace period: at most billium.max_roll_grace (7 days), which only a superuser sets.
------------------------------------------------------------------------------------------------

SELECT is(current_setting('billium.max_roll_grace', true), '7d', 'billium.max_roll_grace defaults to 7 days');
SELECT is((SELECT context FROM pg_settings WHERE name = 'billium.max_roll_grace'), 'superuser',
	'billium.max_roll_grace is a superuser setting');
SELECT throws_ok($$SET LOCAL billium.max_roll_grace = '30d'$$, '42501', NULL,
	'an ordinary role may not raise billium.max_roll_grace');

RESET ROLE;
DELETE FROM snapshot;
INSERT INTO snapshot SELECT pg_temp.key_count(), pg_temp.row_of('grace');
SET LOCAL ROLE tap_roll;
SELECT is(pg_temp.outcome($$SELECT * FROM billium_roll_api_key(pg_temp.kid('grace'), '8 days')$$),
	'22023 - -', 'a grace of 8 days: 22023 (invalid_parameter_value)');
SELECT matches(pg_temp.refusal($$SELECT * FROM billium_roll_api_key(pg_temp.kid('grace'), '8 days')$$) ->> 'message',
	'billium\.max_roll_grace', 'the message names billium.max_roll_grace');
RESET ROLE;
SELECT is(pg_temp.key_count(), (SELECT n FROM snapshot), 'after the refused grace: no key was made');
SELECT is(pg_temp.row_of('grace'), (SELECT rows FROM snapshot), 'after the refused grace: the old key is unchanged');
SET LOCAL ROLE tap_roll;

INSERT INTO keys SELECT 'grace 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('grace'), '7 days');
RESET ROLE;
SELECT is((pg_temp.row_of('grace') ->> 'expires_at')::timestamptz, now() + interval '7 days',
	'a grace of exactly 7 days is allowed: the old key expires 7 days from now()');
SELECT lives_ok($$SET LOCAL billium.max_roll_grace = '30d'$$, 'a superuser may raise billium.max_roll_grace');
SET LOCAL ROLE tap_roll;
SELECT lives_ok($$INSERT INTO keys SELECT 'grace 3', id, api_key FROM billium_roll_api_key(pg_temp.kid('grace 2'), '8 days')$$,
	'with billium.max_roll_grace raised to 30 days by a superuser, a grace of 8 days is allowed');

-- The replacement keeps the old key's expiry: a roll never extends a key's life.
INSERT INTO keys SELECT 'expiring 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('expiring'));
RESET ROLE;
SELECT is((pg_temp.row_of('expiring 2') ->> 'expires_at')::timestamptz, now() + interval '1 day',
	'the replacement of a key expiring tomorrow expires tomorrow too');
SET LOCAL ROLE tap_roll;

------------------------------------------------------------------------------------------------
-- (d) Creating, updating and narrowing never exceed the caller; a demoted creator's keys shrink.
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys SELECT 'small minter', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:create,api_key:view,api_key:edit,invoice:view}', 'small minter');
SELECT is((billium_authenticate(pg_temp.k('small minter'))).kind, 'api_key', 'authenticate a key holding api_key:create and invoice:view');
SELECT is(pg_temp.refusal($$SELECT * FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*}', 'x')$$) #> '{envelope,excess}',
	'["invoice:create","invoice:edit","invoice:delete"]'::jsonb, 'it may not mint a key beyond itself: the excess is named');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('small minter'), '{*}')$$),
	'42501 403 PERMISSION_DENIED', 'it may not widen its own grant');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('expiring 2'), '{invoice:view,product:view}')$$),
	'42501 403 PERMISSION_DENIED', 'it may not widen another key beyond itself');
SELECT is(pg_temp.outcome($$SELECT billium_update_api_key(pg_temp.kid('owner invoices'), '{invoice:view}')$$),
	'ok', 'it may narrow a key to what it holds itself');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000004')).kind, 'user', 'act as the second ADMIN');
INSERT INTO keys SELECT 'demoted', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:*,team:*,api_key:view}', 'demoted');
INSERT INTO keys SELECT 'demoted 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('demoted'), '1 hour');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
UPDATE billium.team_members SET role = 'VIEWER'
WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001' AND user_id = 'b0000000-0000-0000-0000-000000000004';
SELECT is((billium_key_verify(pg_temp.k('demoted'))).permissions, '{invoice:view,team:view,api_key:view}',
	'the ADMIN demoted to VIEWER: its key shrinks to the VIEWER''s share of its grant');
SELECT is((billium_key_verify(pg_temp.k('demoted 2'))).permissions, '{invoice:view,team:view,api_key:view}',
	'and so does the replacement it rolled before the demotion');

SELECT * FROM finish();
ROLLBACK;
