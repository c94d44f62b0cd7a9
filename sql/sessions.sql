/* billium: dashboard sessions (JWT verified in C), and where their secret and the credentials may
 * not be stored (the operator's check and removal). */

-- A session identifies a transaction with SET LOCAL billium.session = '<jwt>' or with this call.
CREATE FUNCTION @extschema@.billium_authenticate_session(jwt text) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authenticate_session(text) IS
	'verify a dashboard session token (HS256, RS256, ES256) and make its user this transaction''s principal';
REVOKE ALL ON FUNCTION @extschema@.billium_authenticate_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_authenticate_session(text) TO billium_api;

-- ---------------------------------------------------------------------------------------------
-- Secrets (issue 12, item 2): billium.jwt_secret is a server-level setting; credentials and the
-- secret must never sit in a catalog every role can read.  The operator's check:
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.billium_check_secret_settings()
RETURNS TABLE (catalog text, object text, setting text, remedy text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH secret(name) AS (VALUES ('billium.jwt_secret'), ('billium.api_key'), ('billium.session')),
	stored AS (
		SELECT 'pg_db_role_setting'::text AS catalog,
			   CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 AND s.setdatabase OPERATOR(pg_catalog.=) 0 THEN 'every role in every database'
					WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format('database %I', d.datname)
					WHEN s.setdatabase OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format('role %I', r.rolname)
					ELSE pg_catalog.format('role %I in database %I', r.rolname, d.datname) END AS object,
			   pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) AS setting,
			   CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 AND s.setdatabase OPERATOR(pg_catalog.=) 0 THEN 'ALTER ROLE ALL RESET '
					WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format('ALTER DATABASE %I RESET ', d.datname)
					WHEN s.setdatabase OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format('ALTER ROLE %I RESET ', r.rolname)
					ELSE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET ', r.rolname, d.datname) END AS statement
		FROM pg_catalog.pg_db_role_setting s
		CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(entry)
		LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.setrole
		LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase
		UNION ALL
		SELECT 'pg_proc.proconfig', pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure),
			   pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)),
			   pg_catalog.format('ALTER %s %s RESET ', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
								 p.oid::pg_catalog.regprocedure)
		FROM pg_catalog.pg_proc p
		CROSS JOIN LATERAL pg_catalog.unnest(p.proconfig) AS c(entry)
		WHERE p.proconfig IS NOT NULL
	)
	SELECT st.catalog, st.object, st.setting,
		   CASE WHEN st.setting OPERATOR(pg_catalog.=) 'billium.jwt_secret'
				-- A server-level setting cannot be RESET per role or database either.
				THEN 'SELECT billium.billium_remove_secret_settings(); then change billium.jwt_secret: every role could read it'
				ELSE st.statement OPERATOR(pg_catalog.||) st.setting
					 OPERATOR(pg_catalog.||) '; then revoke the key or end the session: every role could read it' END
	FROM stored st
	WHERE st.setting OPERATOR(pg_catalog.=) ANY (SELECT name FROM secret)
	ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION @extschema@.billium_check_secret_settings() IS
	'Where a billium secret (billium.jwt_secret) or credential (billium.api_key, billium.session) is stored in a catalog every role can read (pg_db_role_setting, pg_proc.proconfig), never the value: each row names the object and the statement that removes it. Superusers only.';
REVOKE ALL ON FUNCTION @extschema@.billium_check_secret_settings() FROM PUBLIC;

-- Removes what the check lists (a server-level setting stored per role or database cannot be
-- removed with ALTER ... RESET once billium is preloaded).  Superusers only, as catalog writes are.
CREATE FUNCTION @extschema@.billium_remove_secret_settings()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	secrets text[] := ARRAY['billium.jwt_secret', 'billium.api_key', 'billium.session'];
	removed bigint;
BEGIN
	IF NOT pg_catalog.has_function_privilege('@extschema@.billium_check_secret_settings()', 'EXECUTE')
	   OR NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
		RAISE EXCEPTION 'permission denied to remove stored settings' USING ERRCODE = '42501',
			DETAIL = 'Only superusers may call billium_remove_secret_settings.';
	END IF;
	SELECT pg_catalog.count(*) INTO removed FROM @extschema@.billium_check_secret_settings();
	UPDATE pg_catalog.pg_db_role_setting s
	   SET setconfig = ARRAY(SELECT c.entry FROM pg_catalog.unnest(s.setconfig) AS c(entry)
							 WHERE pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) OPERATOR(pg_catalog.<>) ALL (secrets))
	 WHERE EXISTS (SELECT FROM pg_catalog.unnest(s.setconfig) AS c(entry)
				   WHERE pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) OPERATOR(pg_catalog.=) ANY (secrets));
	DELETE FROM pg_catalog.pg_db_role_setting s WHERE pg_catalog.cardinality(s.setconfig) OPERATOR(pg_catalog.=) 0;
	UPDATE pg_catalog.pg_proc p
	   SET proconfig = NULLIF(ARRAY(SELECT c.entry FROM pg_catalog.unnest(p.proconfig) AS c(entry)
									WHERE pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) OPERATOR(pg_catalog.<>) ALL (secrets)),
							  '{}'::text[])
	 WHERE p.proconfig IS NOT NULL
	   AND EXISTS (SELECT FROM pg_catalog.unnest(p.proconfig) AS c(entry)
				   WHERE pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) OPERATOR(pg_catalog.=) ANY (secrets));
	RETURN removed;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_remove_secret_settings() IS
	'Removes every entry billium_check_secret_settings() lists and returns how many; the settings around them stay. Superusers only. The secret or key was readable: change or revoke it too.';
REVOKE ALL ON FUNCTION @extschema@.billium_remove_secret_settings() FROM PUBLIC;
