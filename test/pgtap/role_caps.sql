-- The full cap matrix: each of the 4 team roles and both key types against each of the 34
-- permissions.  The expected table is typed from the spec's Roles and API key tables, not
-- computed from the functions under test.
BEGIN;
SELECT plan(222);

CREATE ROLE tap_billium_reader;
SET LOCAL ROLE tap_billium_reader;
SET LOCAL search_path = public, billium;

CREATE TEMP TABLE expected_caps (
	permission text PRIMARY KEY,
	owner boolean, admin boolean, member boolean, viewer boolean, sk boolean, pk boolean
);
INSERT INTO expected_caps VALUES
	--                  OWNER ADMIN  MEMBER VIEWER sk    pk
	('merchant:view',     true, true,  true,  true,  true, false),
	('merchant:edit',     true, true,  false, false, true, false),
	('merchant:delete',   true, false, false, false, true, false),
	('merchant:billing',  true, false, false, false, true, false),
	('invoice:view',      true, true,  true,  true,  true, true),
	('invoice:create',    true, true,  true,  false, true, true),
	('invoice:edit',      true, true,  true,  false, true, false),
	('invoice:delete',    true, true,  false, false, true, false),
	('product:view',      true, true,  true,  true,  true, true),
	('product:create',    true, true,  true,  false, true, false),
	('product:edit',      true, true,  true,  false, true, false),
	('product:delete',    true, true,  false, false, true, false),
	('customer:view',     true, true,  true,  true,  true, false),
	('customer:edit',     true, true,  true,  false, true, false),
	('customer:delete',   true, true,  false, false, true, false),
	('team:view',         true, true,  true,  true,  true, false),
	('team:invite',       true, true,  false, false, true, false),
	('team:remove',       true, true,  false, false, true, false),
	('team:manage_roles', true, true,  false, false, true, false),
	('api_key:view',      true, true,  true,  true,  true, false),
	('api_key:create',    true, true,  false, false, true, false),
	('api_key:edit',      true, true,  false, false, true, false),
	('api_key:delete',    true, true,  false, false, true, false),
	('webhook:view',      true, true,  true,  true,  true, false),
	('webhook:create',    true, true,  false, false, true, false),
	('webhook:edit',      true, true,  false, false, true, false),
	('webhook:delete',    true, true,  false, false, true, false),
	('checkout:view',     true, true,  false, true,  true, false),
	('checkout:edit',     true, true,  false, false, true, false),
	('wallet:view',       true, true,  true,  true,  true, false),
	('wallet:create',     true, true,  true,  false, true, false),
	('wallet:edit',       true, true,  true,  false, true, false),
	('wallet:delete',     true, true,  false, false, true, false),
	('report:view',       true, true,  false, true,  true, false);

-- 1: the expected table names exactly the catalog's permissions.
SELECT set_eq(
	'SELECT permission FROM expected_caps',
	'SELECT name FROM billium.permissions',
	'the expected matrix covers exactly the 34 permissions of billium.permissions');

-- 136: each role against each permission.
SELECT is(
	billium.billium_has_permission(billium.billium_role_cap(r.role), e.permission),
	CASE r.role WHEN 'OWNER' THEN e.owner WHEN 'ADMIN' THEN e.admin
				WHEN 'MEMBER' THEN e.member ELSE e.viewer END,
	format('role %s %s %s', r.role,
		   CASE WHEN CASE r.role WHEN 'OWNER' THEN e.owner WHEN 'ADMIN' THEN e.admin
								 WHEN 'MEMBER' THEN e.member ELSE e.viewer END
				THEN 'may hold' ELSE 'may not hold' END,
		   e.permission))
FROM (VALUES ('OWNER'), ('ADMIN'), ('MEMBER'), ('VIEWER')) AS r(role)
CROSS JOIN expected_caps e
ORDER BY r.role, e.permission;

-- 68: each key type against each permission.
SELECT is(
	billium.billium_has_permission(billium.billium_key_type_cap(k.key_type), e.permission),
	CASE k.key_type WHEN 'sk' THEN e.sk ELSE e.pk END,
	format('key type %s %s %s', k.key_type,
		   CASE WHEN CASE k.key_type WHEN 'sk' THEN e.sk ELSE e.pk END
				THEN 'may hold' ELSE 'may not hold' END,
		   e.permission))
FROM (VALUES ('sk'), ('pk')) AS k(key_type)
CROSS JOIN expected_caps e
ORDER BY k.key_type, e.permission;

-- 6: the counts the spec states.
SELECT is(billium.billium_permset_count(billium.billium_role_cap('OWNER')), 34, 'OWNER holds 34');
SELECT is(billium.billium_permset_count(billium.billium_role_cap('ADMIN')), 32, 'ADMIN holds 32');
SELECT is(billium.billium_permset_count(billium.billium_role_cap('MEMBER')), 15, 'MEMBER holds 15');
SELECT is(billium.billium_permset_count(billium.billium_role_cap('VIEWER')), 10, 'VIEWER holds 10');
SELECT is(billium.billium_permset_count(billium.billium_key_type_cap('sk')), 34, 'sk holds up to 34');
SELECT is(billium.billium_permset_count(billium.billium_key_type_cap('pk')), 3, 'pk holds exactly 3');

-- 4: role names in any case, and the roles view agrees with the function.
SELECT is(billium.billium_role_cap('member'), billium.billium_role_cap('MEMBER'), 'role names ignore case');
SELECT is(billium.billium_key_type_cap('PK'), billium.billium_key_type_cap('pk'), 'key types ignore case');
SELECT results_eq(
	'SELECT role, count FROM billium.roles',
	$$VALUES ('OWNER', 34), ('ADMIN', 32), ('MEMBER', 15), ('VIEWER', 10)$$,
	'billium.roles lists the four roles with their counts, OWNER first');
SELECT is_empty(
	'SELECT role FROM billium.roles WHERE permissions <> billium.billium_role_cap(role)',
	'billium.roles agrees with billium_role_cap');

-- 7: the public key can never list, cancel or manage: only its three permissions.
SELECT is(billium.billium_key_type_cap('pk'), '{invoice:create,invoice:view,product:view}'::billium.billium_permset,
	'pk is exactly invoice:create, invoice:view, product:view');
SELECT ok(NOT billium.billium_has_permission(billium.billium_key_type_cap('pk'), 'invoice:edit'),
	'pk cannot cancel invoices (invoice:edit)');
SELECT ok(NOT (billium.billium_key_type_cap('pk') && '{webhook:*}'), 'pk cannot manage webhooks');
SELECT throws_ok($$SELECT billium.billium_role_cap('ROOT')$$, '22023', NULL, 'an unknown role raises 22023');
SELECT throws_ok($$SELECT billium.billium_key_type_cap('xk')$$, '22023', NULL, 'an unknown key type raises 22023');
SELECT throws_ok($$SELECT billium.billium_has_permission('{}', 'invoice:fly')$$, '22P02', NULL,
	'an unknown permission name raises 22P02');
SELECT throws_ok($$SELECT '{invoice}'::billium.billium_permset$$, '22P02', NULL,
	'a bare domain is not a permission');

SELECT * FROM finish();
ROLLBACK;
