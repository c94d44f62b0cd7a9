-- billium walk-through: what a backend asks the database, and what it answers.
-- Run by `make demo` against a throwaway cluster; each step prints its question and its answer.
\set SHOW_CONTEXT never
\pset footer off
SET search_path = billium, public;

\echo
\echo '== 1. The 34 permissions, in 10 domains (billium.permissions) =='
SELECT domain, string_agg(name, ', ' ORDER BY "bit") AS permissions
FROM permissions GROUP BY domain ORDER BY min("bit");

\echo
\echo '== 2. A permission set is one 8-byte value; text in, canonical text out =='
SELECT '{ product:view, invoice:view, invoice:view }'::billium_permset AS canonical,
       '{invoice:*}'::billium_permset AS whole_domain,
       billium_permset_count('{*}') AS everything;

\echo
\echo '== 3. Set algebra: union, intersection, difference, containment =='
SELECT '{invoice:view}'::billium_permset | '{product:view}' AS "union",
       '{invoice:*}'::billium_permset & '{invoice:view,product:view}' AS intersection,
       '{invoice:*}'::billium_permset - '{invoice:delete}' AS difference,
       '{invoice:*}'::billium_permset @> '{invoice:edit}' AS contains;

\echo
\echo '== 4. The four team roles cap what a user may hold (billium.roles) =='
SELECT role, count, billium_has_permission(permissions, 'merchant:delete') AS may_delete_merchant,
       billium_has_permission(permissions, 'invoice:create') AS may_create_invoices
FROM roles;

\echo
\echo '== 5. Key types: a public key holds at most three permissions =='
SELECT key_type, count, CASE WHEN count < 34 THEN permissions::text ELSE '(all 34)' END AS permissions
FROM key_types;

\echo
\echo '== 6. Allowed and refused: may a MEMBER delete an invoice? may a pk key create one? =='
SELECT billium_has_permission(billium_role_cap('MEMBER'), 'invoice:delete') AS member_deletes_invoice,
       billium_has_permission(billium_key_type_cap('pk'), 'invoice:create') AS pk_creates_invoice,
       billium_has_permission(billium_key_type_cap('pk'), 'invoice:edit') AS pk_cancels_invoice;

\echo
\echo '== 7. Mistakes are refused with the SQLSTATE and a hint, never a silent false =='
SELECT '{invoice:fly}'::billium_permset;
SELECT billium_role_cap('SUPERUSER');

\echo
\echo 'End of the walk-through.'
