-- Privileges (issue 7): a walk of the catalog that fails when any function of the extension is
-- SECURITY DEFINER without a pinned search_path, when PUBLIC may execute a function outside the
-- allow-list typed below, when anyone but the owner may create objects in schema billium, when an
-- ordinary role (or billium_api) can read billium.jwt_secret or a key hash, or when a table of
-- the extension lacks row-level security enabled and forced (billium.actions, a public catalog,
-- excepted).  Run at the newest version the tree has.
BEGIN;
DO $$
DECLARE
	newest text;
BEGIN
	SELECT version INTO newest FROM pg_available_extension_versions WHERE name = 'billium'
	ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1;
	IF string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[]
	   < string_to_array(newest, '.')::int[] THEN
		EXECUTE format('ALTER EXTENSION billium UPDATE TO %L', newest);
	END IF;
END
$$;
SELECT plan(25);

CREATE ROLE regress_priv_plain;
CREATE ROLE regress_priv_api;
GRANT billium_api TO regress_priv_api;

-- The extension's functions and relations, by pg_depend; with those of the test-only
-- billium_test (its fixtures are SECURITY DEFINER too, and test databases grant them).
CREATE TEMP VIEW ext_procs AS
	SELECT p.* FROM pg_proc p
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('billium', 'billium_test');
CREATE TEMP VIEW ext_rels AS
	SELECT c.* FROM pg_class c
	JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('billium', 'billium_test');
GRANT SELECT ON ext_procs, ext_rels TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Functions.
------------------------------------------------------------------------------------------------
SELECT ok((SELECT count(*) FROM ext_procs) > 60, 'the extension''s functions are found through pg_depend');

SELECT is(ARRAY(SELECT oid::regprocedure::text FROM ext_procs
				WHERE prosecdef AND NOT EXISTS (SELECT FROM unnest(proconfig) AS c WHERE c LIKE 'search_path=%')
				ORDER BY 1),
		  '{}'::text[], 'every SECURITY DEFINER function pins search_path');

SELECT is(ARRAY(SELECT oid::regprocedure::text FROM ext_procs
				WHERE prosecdef AND NOT EXISTS (SELECT FROM unnest(proconfig) AS c
												WHERE c LIKE 'search_path=pg_catalog%'
												  AND (c LIKE '%pg_temp' OR c NOT LIKE '%pg_temp%'))
				ORDER BY 1),
		  '{}'::text[], 'and pins it to pg_catalog first, pg_temp (if at all) last');

SELECT is(ARRAY(SELECT oid::regprocedure::text FROM ext_procs
				WHERE prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
				  AND NOT EXISTS (SELECT FROM unnest(proconfig) AS c WHERE c LIKE 'search_path=%')
				ORDER BY 1),
		  '{}'::text[], 'every PL/pgSQL function pins search_path too (triggers run as whoever writes)');

-- What PUBLIC may execute: the type's I/O, comparison and hashing, the set algebra and its
-- aggregates, the pure questions and caps, and the catalog SRFs behind the public views.
CREATE TEMP TABLE public_allowed (sig text PRIMARY KEY);
INSERT INTO public_allowed VALUES
	('billium.billium_permset_in(cstring)'),
	('billium.billium_permset_out(billium.billium_permset)'),
	('billium.billium_permset_recv(internal)'),
	('billium.billium_permset_send(billium.billium_permset)'),
	('billium.billium_permset_eq(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_ne(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_lt(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_le(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_gt(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_ge(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_cmp(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_sortsupport(internal)'),
	('billium.billium_permset_hash(billium.billium_permset)'),
	('billium.billium_permset_hash_extended(billium.billium_permset,bigint)'),
	('billium.billium_permset_or(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_and(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_minus(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_contains(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_contained(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_overlaps(billium.billium_permset,billium.billium_permset)'),
	('billium.billium_permset_union(billium.billium_permset)'),
	('billium.billium_permset_intersection(billium.billium_permset)'),
	('billium.billium_has_permission(billium.billium_permset,text)'),
	('billium.billium_permset_count(billium.billium_permset)'),
	('billium.billium_permset_names(billium.billium_permset)'),
	('billium.billium_permset_from_names(text[])'),
	('billium.billium_permset_from_bigint(bigint)'),
	('billium.billium_permset_missing_views(billium.billium_permset)'),
	('billium.billium_role_cap(text)'),
	('billium.billium_key_type_cap(text)'),
	('billium.billium_permission_catalog()'),
	('billium.billium_role_catalog()'),
	('billium.billium_factor_catalog()'),
	('billium.billium_error_catalog()');
CREATE TEMP VIEW public_executable AS
	SELECT p.oid::regprocedure::text AS sig FROM ext_procs p
	WHERE EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
				  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');

SELECT is(ARRAY(SELECT sig FROM public_executable EXCEPT SELECT sig FROM public_allowed ORDER BY 1),
		  '{}'::text[], 'PUBLIC may execute no function outside the allow-list');
SELECT is(ARRAY(SELECT sig FROM public_allowed EXCEPT SELECT sig FROM public_executable ORDER BY 1),
		  '{}'::text[], 'and may execute every function of the allow-list (the type and the catalog work for anyone)');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM ext_procs p
				WHERE has_function_privilege('regress_priv_plain', p.oid, 'EXECUTE')
				EXCEPT SELECT sig FROM public_allowed ORDER BY 1),
		  '{}'::text[], 'an ordinary role may execute nothing more than PUBLIC');
SELECT ok(NOT has_function_privilege('regress_priv_api', 'billium.billium_act_as(uuid)', 'EXECUTE')
		  AND NOT has_function_privilege('regress_priv_api', 'billium.billium_key_generate(text)', 'EXECUTE')
		  AND NOT has_function_privilege('regress_priv_api', 'billium.billium_test_key(uuid,text,billium.billium_permset)', 'EXECUTE'),
		  'billium_api may not act as a user, mint raw keys or use the test fixtures');

------------------------------------------------------------------------------------------------
-- Schema billium: nobody but its owner creates there.
------------------------------------------------------------------------------------------------
SELECT ok(NOT has_schema_privilege('public', 'billium', 'CREATE'), 'PUBLIC may not create in schema billium');
SELECT ok(NOT has_schema_privilege('billium_api', 'billium', 'CREATE'), 'billium_api may not create in schema billium');
SELECT ok(NOT has_schema_privilege('billium_admin', 'billium', 'CREATE'), 'billium_admin may not create in schema billium');
SELECT ok(NOT has_schema_privilege('regress_priv_plain', 'billium', 'CREATE'), 'an ordinary role may not create in schema billium');
SELECT is((SELECT array_agg(a.grantee::regrole::text ORDER BY 1)
		   FROM pg_namespace n, aclexplode(n.nspacl) AS a
		   WHERE n.nspname = 'billium' AND a.privilege_type = 'CREATE'),
		  ARRAY[(SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'billium')],
		  'the CREATE privilege on schema billium is its owner''s alone');

SET LOCAL ROLE regress_priv_plain;
SELECT throws_ok('CREATE VIEW billium.leak AS SELECT key_hash FROM billium.api_keys', '42501', NULL,
				 'an ordinary role cannot create a view in billium to read key hashes');
SELECT throws_ok('CREATE FUNCTION billium.billium_leak() RETURNS text LANGUAGE sql AS $$ SELECT 1::text $$', '42501', NULL,
				 'nor a function in billium');

------------------------------------------------------------------------------------------------
-- Secrets: the HS256 secret and the key hashes.
------------------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT current_setting('billium.jwt_secret')$$, '42501', NULL,
				 'an ordinary role cannot read billium.jwt_secret');
SELECT throws_ok('SELECT key_hash FROM billium.api_keys', '42501', NULL,
				 'an ordinary role cannot read billium.api_keys.key_hash');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'billium.jwt_secret'), 0::bigint,
		  'nor see billium.jwt_secret in pg_settings');
RESET ROLE;
SET LOCAL ROLE regress_priv_api;
SELECT throws_ok($$SELECT current_setting('billium.jwt_secret')$$, '42501', NULL,
				 'billium_api cannot read billium.jwt_secret');
SELECT throws_ok('SELECT key_hash FROM billium.api_keys', '42501', NULL,
				 'billium_api cannot read billium.api_keys.key_hash');
SELECT throws_ok('SELECT k FROM billium.api_keys k', '42501', NULL,
				 'nor the whole row, which holds it');
SELECT throws_ok('SELECT count(*) FROM billium.api_keys WHERE key_hash IS NOT NULL', '42501', NULL,
				 'nor test it in a WHERE clause');
RESET ROLE;

-- Every column of the extension that holds a hash: no role but the owner may read it.
SELECT is(ARRAY(SELECT format('%s.%s to %s', c.relname, a.attname, r.rolname)
				FROM ext_rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
				CROSS JOIN (VALUES ('public'), ('billium_api'), ('billium_admin'), ('regress_priv_plain')) AS r(rolname)
				WHERE a.attname LIKE '%hash%' AND has_column_privilege(r.rolname, c.oid, a.attnum, 'SELECT')
				ORDER BY 1),
		  '{}'::text[], 'no column holding a hash is readable by PUBLIC, billium_api, billium_admin or an ordinary role');

------------------------------------------------------------------------------------------------
-- Row-level security on every table.
------------------------------------------------------------------------------------------------
SELECT is(ARRAY(SELECT relname::text FROM ext_rels
				WHERE relkind IN ('r', 'p') AND relname NOT IN ('actions', 'policy_rules') AND NOT (relrowsecurity AND relforcerowsecurity)
				ORDER BY 1),
		  '{}'::text[], 'every table of the extension but the public catalogs billium.actions and billium.policy_rules has row-level security enabled and forced');
SELECT is(ARRAY(SELECT format('%s: %s', c.relname, p.privilege_type)
				FROM ext_rels c, LATERAL (SELECT a.privilege_type FROM aclexplode(c.relacl) AS a WHERE a.grantee = 0) AS p
				WHERE c.relname NOT IN ('permissions', 'roles', 'key_types', 'security_factors', 'errors', 'actions', 'policy_rules') OR p.privilege_type <> 'SELECT'
				ORDER BY 1),
		  '{}'::text[], 'PUBLIC holds only SELECT, and only on the catalog views, billium.actions and billium.policy_rules');

SELECT * FROM finish();
ROLLBACK;
