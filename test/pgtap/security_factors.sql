-- The security factors are declared once, in src/factors.c, and read by SQL through the view
-- billium.security_factors.  What SQL must still spell out (the columns of billium.users and
-- billium.merchants, billium_api's UPDATE grant on merchants) is checked against it here, and
-- what is derived from it (billium_security_flags, which the merchants guard and the audit
-- trigger use) is checked to cover every factor.
BEGIN;
SELECT plan(8);

SELECT is(ARRAY(SELECT name FROM billium.security_factors ORDER BY "bit"),
		  ARRAY['tfa', 'passkey', 'googleLogin', 'githubLogin', 'emailVerified'],
		  'the factors, in the order the envelope''s "missing" lists them');
SELECT is(ARRAY(SELECT "bit" FROM billium.security_factors ORDER BY "bit"),
		  ARRAY(SELECT generate_series(0, (SELECT count(*)::int - 1 FROM billium.security_factors))),
		  'factor i is bit i of the missing mask');

-- Each factor's columns: boolean, NOT NULL, false by default.
CREATE TEMP VIEW factor_columns AS
	SELECT f.name, t.relname, a.attname, a.atttypid, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_value
	FROM billium.security_factors f
	CROSS JOIN LATERAL (VALUES ('users', f.user_column), ('merchants', f.enforce_column)) AS c(rel, col)
	JOIN pg_class t ON t.relname = c.rel AND t.relnamespace = 'billium'::regnamespace
	LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = c.col AND NOT a.attisdropped
	LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum;
SELECT is((SELECT count(*)::int FROM factor_columns WHERE attname IS NOT NULL),
		  2 * (SELECT count(*)::int FROM billium.security_factors),
		  'every factor has its column in billium.users and in billium.merchants');
SELECT is(ARRAY(SELECT format('%s.%s', relname, attname) FROM factor_columns
				WHERE atttypid <> 'boolean'::regtype OR NOT attnotnull OR default_value IS DISTINCT FROM 'false'
				ORDER BY 1),
		  '{}'::text[], 'each is boolean NOT NULL DEFAULT false');

-- No requirement column the C does not know.
SELECT is(ARRAY(SELECT attname::text FROM pg_attribute
				WHERE attrelid = 'billium.merchants'::regclass AND attnum > 0 AND NOT attisdropped
				  AND attname LIKE 'enforce\_%'
				EXCEPT SELECT enforce_column FROM billium.security_factors ORDER BY 1),
		  '{}'::text[], 'every enforce_* column of billium.merchants is a factor of src/factors.c');

-- The UPDATE grant that names merchants' columns names every enforce column.
SELECT is(ARRAY(SELECT enforce_column FROM billium.security_factors
				WHERE NOT has_column_privilege('billium_api', 'billium.merchants', enforce_column, 'UPDATE')
				ORDER BY 1),
		  '{}'::text[], 'billium_api may update every enforce column (its OWNER changes them through the API)');

-- What the guard compares and the audit trail records: every factor, nothing else.
CREATE TEMP TABLE factor_merchant AS
	SELECT merchant_id FROM billium.billium_test_merchant('factors', 'owner@factors.test');
SELECT is(ARRAY(SELECT jsonb_object_keys(billium.billium_security_flags(m)) FROM billium.merchants m
				WHERE m.id = (SELECT merchant_id FROM factor_merchant) ORDER BY 1),
		  ARRAY(SELECT enforce_column FROM billium.security_factors ORDER BY 1),
		  'billium_security_flags holds exactly the enforce columns of the factors');
SELECT ok(pg_get_functiondef('billium.billium_merchants_guard()'::regprocedure) !~ 'enforce_'
		  AND pg_get_functiondef('billium.billium_merchants_audit()'::regprocedure) !~ 'enforce_',
		  'the merchants guard and audit trigger name no factor column: they read billium.security_factors');

SELECT * FROM finish();
ROLLBACK;
