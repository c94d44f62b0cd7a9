-- Keys minted by keys (issue 12, item 4): a child is valid only while every ancestor is (not
-- revoked, not expired), checked when it is verified; its expiry is capped at its ancestors' at
-- creation; revoking a key revokes its descendants in the same transaction, each audited.
-- One transaction, rolled back.  What another backend sees after a parent's revocation commits
-- is in test/specs/key_lineage.spec.
--
-- The lineage built here, all on one merchant, created by the OWNER through keys:
--   parent (expires in 1 hour) -> child (no expiry asked), child late (2 hours asked),
--                                 child early (30 minutes asked)
--   child -> grandchild (no expiry asked; child's own expiry cleared first, as a 0.5.0 row)
--   sibling: another key of the OWNER, no lineage
BEGIN;
SELECT plan(31);

INSERT INTO billium.merchants (id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'lineage merchant');
INSERT INTO billium.users (id, email) VALUES ('b0000000-0000-0000-0000-000000000001', 'owner@key-lineage.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER');

CREATE ROLE tap_lineage LOGIN;
GRANT billium_api, billium_admin TO tap_lineage;
SET LOCAL ROLE tap_lineage;
SET LOCAL search_path = public, billium;

CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; det text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
	BEGIN
		RETURN st || ' ' || coalesce(det::jsonb ->> 'status', '-') || ' ' || coalesce(det::jsonb ->> 'code', '-');
	EXCEPTION WHEN OTHERS THEN
		RETURN st;
	END;
END
$$;
CREATE TEMP TABLE keys (label text PRIMARY KEY, id uuid NOT NULL, api_key text NOT NULL);
GRANT ALL ON keys TO PUBLIC;
CREATE FUNCTION pg_temp.k(label text) RETURNS text LANGUAGE sql STABLE AS
	$$ SELECT api_key FROM keys WHERE keys.label = k.label $$;
CREATE FUNCTION pg_temp.kid(label text) RETURNS uuid LANGUAGE sql STABLE AS
	$$ SELECT id FROM keys WHERE keys.label = kid.label $$;
CREATE FUNCTION pg_temp.verify(label text) RETURNS text LANGUAGE sql AS
	$$ SELECT pg_temp.outcome(format('SELECT billium_key_verify(%L)', pg_temp.k(label))) $$;
-- Read as the superuser (after RESET ROLE).
CREATE FUNCTION pg_temp.expires(label text) RETURNS timestamptz LANGUAGE sql STABLE AS
	$$ SELECT expires_at FROM billium.api_keys WHERE id = pg_temp.kid(label) $$;
CREATE FUNCTION pg_temp.revoked(label text) RETURNS timestamptz LANGUAGE sql STABLE AS
	$$ SELECT revoked_at FROM billium.api_keys WHERE id = pg_temp.kid(label) $$;

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
INSERT INTO keys SELECT 'parent', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:*,invoice:*}', 'parent', now() + interval '1 hour');
INSERT INTO keys SELECT 'sibling', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'sibling');

------------------------------------------------------------------------------------------------
-- (a) At creation, a child's expiry is capped at its ancestors' earliest.
------------------------------------------------------------------------------------------------

SELECT is((billium_authenticate(pg_temp.k('parent'))).kind, 'api_key', 'authenticate the parent, which expires in an hour');
INSERT INTO keys SELECT 'child', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{api_key:create,invoice:view}', 'child');
INSERT INTO keys SELECT 'child late', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'child late', now() + interval '2 hours');
INSERT INTO keys SELECT 'child early', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'child early', now() + interval '30 minutes');
RESET ROLE;
SELECT is(pg_temp.expires('child'), now() + interval '1 hour',
	'a child asking for no expiry expires with its parent');
SELECT is(pg_temp.expires('child late'), now() + interval '1 hour',
	'a child asking to outlive its parent expires with it');
SELECT is(pg_temp.expires('child early'), now() + interval '30 minutes',
	'a child asking for an earlier expiry keeps it');
SELECT is((SELECT created_by_key FROM billium.api_keys WHERE id = pg_temp.kid('child')), pg_temp.kid('parent'),
	'the child''s parent (created_by_key) is the parent key');
-- As a 0.5.0 row could be: the child's own expiry cleared.  Its child is still capped at the
-- earliest expiry of all its ancestors, the parent's.
UPDATE billium.api_keys SET expires_at = NULL WHERE id = pg_temp.kid('child');
SET LOCAL ROLE tap_lineage;
SELECT is((billium_authenticate(pg_temp.k('child'))).kind, 'api_key', 'authenticate the child');
INSERT INTO keys SELECT 'grandchild', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:view}', 'grandchild');
RESET ROLE;
SELECT is(pg_temp.expires('grandchild'), now() + interval '1 hour',
	'a grandchild is capped at the earliest expiry among all its ancestors (the parent''s, the child having none)');
SET LOCAL ROLE tap_lineage;

SELECT is(pg_temp.verify('child'), 'ok', 'the child verifies while its parent is valid');
SELECT is(pg_temp.verify('grandchild'), 'ok', 'so does the grandchild');

------------------------------------------------------------------------------------------------
-- (b) At verification, every ancestor must be valid, whatever the descendants' own rows say
-- (here the parent's row is changed directly by the superuser, so nothing cascades).
------------------------------------------------------------------------------------------------

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER');
RESET ROLE;
UPDATE billium.api_keys SET revoked_at = now() WHERE id = pg_temp.kid('parent');
SET LOCAL ROLE tap_lineage;
SELECT is(pg_temp.verify('child'), '28000 401 API_KEY_REVOKED', 'the parent revoked: the child is refused as revoked');
SELECT is(pg_temp.verify('grandchild'), '28000 401 API_KEY_REVOKED', 'and the grandchild too');
SELECT is(pg_temp.outcome(format('SELECT billium_authenticate(%L)', pg_temp.k('grandchild'))), '28000 401 API_KEY_REVOKED',
	'billium_authenticate refuses the grandchild the same way');
SELECT is(pg_temp.verify('sibling'), 'ok', 'a key outside the lineage is untouched');
RESET ROLE;
UPDATE billium.api_keys SET revoked_at = NULL, expires_at = now() - interval '1 second' WHERE id = pg_temp.kid('parent');
SET LOCAL ROLE tap_lineage;
SELECT is(pg_temp.verify('child'), '28000 401 API_KEY_EXPIRED', 'the parent expired: the child is refused as expired');
SELECT is(pg_temp.verify('grandchild'), '28000 401 API_KEY_EXPIRED', 'and the grandchild too');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).kind, 'user', 'act as the OWNER again');
SELECT is((SELECT name FROM billium_explain_key(pg_temp.kid('grandchild')) WHERE step = 5),
	'effective (an ancestor expired: refused)', 'billium_explain_key says an ancestor expired');
RESET ROLE;
UPDATE billium.api_keys SET expires_at = now() + interval '1 hour' WHERE id = pg_temp.kid('parent');
SET LOCAL ROLE tap_lineage;
SELECT is(pg_temp.verify('grandchild'), 'ok', 'the parent valid again: the grandchild verifies again');

-- Rolled with no grace, the parent expires at now(): its children go with it.  Its replacement is
-- not their parent.
INSERT INTO keys SELECT 'parent 2', id, api_key FROM billium_roll_api_key(pg_temp.kid('parent'));
SELECT is(pg_temp.verify('parent 2'), 'ok', 'the parent''s replacement verifies');
SELECT is(pg_temp.verify('child'), '28000 401 API_KEY_EXPIRED', 'the parent rolled with no grace: the child is refused as expired');
SELECT is(pg_temp.verify('grandchild'), '28000 401 API_KEY_EXPIRED', 'and the grandchild too');
RESET ROLE;
UPDATE billium.api_keys SET expires_at = now() + interval '1 hour' WHERE id = pg_temp.kid('parent');
SET LOCAL ROLE tap_lineage;

------------------------------------------------------------------------------------------------
-- (c) Revoking a key revokes its descendants in the same transaction, each audited; nothing
-- above or beside it.
------------------------------------------------------------------------------------------------

RESET ROLE;
CREATE TEMP TABLE audit_mark AS SELECT max(id) AS id FROM billium.audit_log;
SET LOCAL ROLE tap_lineage;
SELECT lives_ok($$SELECT billium_revoke_api_key(pg_temp.kid('child'))$$, 'the OWNER revokes the child');
RESET ROLE;
SELECT is(pg_temp.revoked('grandchild'), now(), 'the grandchild is revoked with it, in the same transaction');
SELECT is(pg_temp.revoked('parent'), NULL, 'the parent is not');
SELECT is(pg_temp.revoked('child late'), NULL, 'nor the child''s siblings');
SET LOCAL ROLE tap_lineage;
SELECT lives_ok($$SELECT billium_revoke_api_key(pg_temp.kid('parent'))$$, 'the OWNER revokes the parent');
RESET ROLE;
SELECT is((SELECT count(*) FROM billium.api_keys WHERE created_by_key = pg_temp.kid('parent') AND revoked_at IS NULL),
	0::bigint, 'every child of the parent is revoked');
SELECT is((SELECT count(*) FROM billium.audit_log
		   WHERE id > (SELECT id FROM audit_mark) AND action = 'api_keys.revoke' AND (after ->> 'id')::uuid IN
				 (pg_temp.kid('parent'), pg_temp.kid('child'), pg_temp.kid('child late'), pg_temp.kid('child early'), pg_temp.kid('grandchild'))),
	5::bigint, 'the audit trail has one revoke for each of the five keys, none twice');
SELECT is(pg_temp.revoked('sibling'), NULL, 'the key outside the lineage is not revoked');

SELECT * FROM finish();
ROLLBACK;
