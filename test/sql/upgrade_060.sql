-- ALTER EXTENSION billium UPDATE TO '0.6.0' over keys and team grants that break 0.6.0's new
-- rules (issue 12).  In a database of its own, made at 0.5.0:
--   - grants that write in a domain without viewing it (decision 3) are reported in a WARNING
--     naming the keys and memberships, and left as they are: they keep verifying;
--   - a key minted by an already revoked key is revoked (item 4), audited, and reported;
--   - a key whose own expiry is later than its parent's is reported, and expires with it.
-- Revoked keys are not reported.  The test's database is dropped at the end.
SELECT current_database() AS regress_db \gset
CREATE DATABASE billium_upgrade_060;
\c billium_upgrade_060
SET search_path = billium, public;
CREATE EXTENSION billium VERSION '0.5.0';

INSERT INTO merchants (id, name) VALUES ('a0000000-0000-0000-0000-000000000060', 'upgrade 0.6.0');
INSERT INTO users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000061', 'owner@upgrade-060.regress'),
	('b0000000-0000-0000-0000-000000000062', 'admin@upgrade-060.regress'),
	('b0000000-0000-0000-0000-000000000063', 'member@upgrade-060.regress');
INSERT INTO team_members (merchant_id, user_id, role, permissions) VALUES
	('a0000000-0000-0000-0000-000000000060', 'b0000000-0000-0000-0000-000000000061', 'OWNER', NULL),
	('a0000000-0000-0000-0000-000000000060', 'b0000000-0000-0000-0000-000000000062', 'ADMIN', '{invoice:*,team:remove}'),
	('a0000000-0000-0000-0000-000000000060', 'b0000000-0000-0000-0000-000000000063', 'MEMBER', '{invoice:view,invoice:edit}');
-- Keys written directly, with fixed ids; only ...01 is presented, the others have made-up hashes.
\set legacy_sk 'sk_VF3j6soByJjrvKhtZWeI4FnlkABrNVWPVoRiQljVnaYwEt05y45XMXKu4dKErc5rzsRTyjEIyPnebceOZAYVtIMpyp40g3pA'
--   ...01 {invoice:edit}             lacks invoice:view         reported
--   ...02 {invoice:*,webhook:delete} lacks webhook:view         reported
--   ...03 {invoice:edit}, revoked                               not reported
--   ...04 {invoice:*}                                           fine
--   ...05 parent, revoked; ...06 its child {invoice:view}       the child is revoked
--   ...07 parent expiring in a day; ...08 its child, no expiry  reported, expires with it
INSERT INTO api_keys (id, merchant_id, key_type, name, hint, key_hash, permissions, created_by,
					  created_by_key, expires_at, revoked_at)
SELECT ('c0000000-0000-0000-0000-0000000000' || n)::uuid, 'a0000000-0000-0000-0000-000000000060', 'sk',
	   'key ' || n, 'sk_...' || n,
	   sha256(convert_to(CASE n WHEN '01' THEN :'legacy_sk' ELSE 'upgrade 0.6.0 key ' || n END, 'UTF8')), p::billium_permset,
	   'b0000000-0000-0000-0000-000000000061', ('c0000000-0000-0000-0000-0000000000' || parent)::uuid,
	   expires, revoked
FROM (VALUES ('01', '{invoice:edit}', NULL, NULL::timestamptz, NULL::timestamptz),
			 ('02', '{invoice:*,webhook:delete}', NULL, NULL, NULL),
			 ('03', '{invoice:edit}', NULL, NULL, now() - interval '1 day'),
			 ('04', '{invoice:*}', NULL, NULL, NULL),
			 ('05', '{api_key:create,invoice:*}', NULL, NULL, now() - interval '2 days'),
			 ('06', '{invoice:view}', '05', NULL, NULL),
			 ('07', '{api_key:create,invoice:*}', NULL, now() + interval '1 day', NULL),
			 ('08', '{invoice:view}', '07', NULL, NULL)) AS v(n, p, parent, expires, revoked);

ALTER EXTENSION billium UPDATE TO '0.6.0';

-- Nothing was narrowed or widened.
SELECT right(id::text, 2) AS key, permissions, revoked_at IS NOT NULL AS revoked, expires_at IS NOT NULL AS expires
FROM api_keys ORDER BY id;
SELECT role, permissions FROM team_members WHERE role <> 'OWNER' ORDER BY user_id;
-- The reported key still verifies, with its grant.
SELECT key_id, permissions FROM billium_key_verify(:'legacy_sk');
-- The child of the revoked parent carries its parent's revocation time, and the audit trail
-- says so, with no principal.
SELECT (SELECT revoked_at FROM api_keys WHERE id = 'c0000000-0000-0000-0000-000000000006')
	 = (SELECT revoked_at FROM api_keys WHERE id = 'c0000000-0000-0000-0000-000000000005') AS revoked_with_parent;
SELECT action, principal_kind, after ->> 'id' AS key FROM audit_log ORDER BY id;

\c :regress_db
DROP DATABASE billium_upgrade_060;
