-- Role and key-type caps (the full matrix is in test/pgtap/role_caps.sql).
CREATE ROLE regress_billium_reader;
SET ROLE regress_billium_reader;
SET search_path = billium, public;

SELECT role, count FROM roles;
SELECT role, unnest(billium_permset_names(permissions)) AS permission
FROM roles WHERE role IN ('MEMBER', 'VIEWER');
SELECT key_type, count, CASE WHEN count < 34 THEN permissions::text END AS permissions FROM key_types;
SELECT billium_role_cap('owner') = billium_role_cap('OWNER') AS case_insensitive,
       billium_role_cap('Viewer') = billium_role_cap('VIEWER') AS viewer_too,
       billium_key_type_cap('PK') = billium_key_type_cap('pk') AS key_type_case;
-- The caps nest: VIEWER and MEMBER within ADMIN within OWNER; pk within sk.
SELECT billium_role_cap('VIEWER') <@ billium_role_cap('ADMIN') AS viewer_in_admin,
       billium_role_cap('MEMBER') <@ billium_role_cap('ADMIN') AS member_in_admin,
       billium_role_cap('ADMIN') <@ billium_role_cap('OWNER') AS admin_in_owner,
       billium_role_cap('OWNER') - billium_role_cap('ADMIN') AS owner_only,
       billium_key_type_cap('pk') <@ billium_key_type_cap('sk') AS pk_in_sk;
-- A member never deletes; a viewer only views.
SELECT billium_role_cap('MEMBER') && '{merchant:delete,invoice:delete,product:delete,customer:delete,webhook:delete,wallet:delete,api_key:delete}' AS member_deletes,
       billium_role_cap('VIEWER') - billium_permset_from_names(ARRAY(SELECT name FROM permissions WHERE name LIKE '%:view')) AS viewer_beyond_view;

-- Unknown names: 22023.
SELECT billium_role_cap('SUPERUSER');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_key_type_cap('rk');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_role_cap('');
SELECT billium_key_type_cap('sk_');

RESET ROLE;
DROP OWNED BY regress_billium_reader;
DROP ROLE regress_billium_reader;
