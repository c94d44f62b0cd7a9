/* billium: a user's own tables under billium's policies. */

------------------------------------------------------------------------------------------------
-- A user's own tables under the same policies: billium_protect_table(tbl, domain, column)
-- enables and forces row-level security and creates billium_<domain>_{view,create,edit,delete};
-- billium_unprotect_table removes exactly those and restores the row-level security settings
-- the table had before (kept in the comment of the view policy).  SECURITY INVOKER: the caller
-- must own the table.
------------------------------------------------------------------------------------------------

-- The permission a command of a domain needs: the domain's own (view, create, edit, delete), or
-- its edit for a domain without create or delete (customer, checkout); null when it has neither.
CREATE FUNCTION @extschema@.billium_domain_permission(domain text, verb text) RETURNS text
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT p.name FROM @extschema@.permissions p
	WHERE p.name OPERATOR(pg_catalog.=) ANY (ARRAY[billium_domain_permission.domain || ':' || billium_domain_permission.verb,
												   billium_domain_permission.domain || ':edit'])
	ORDER BY p.name OPERATOR(pg_catalog.<>) (billium_domain_permission.domain || ':' || billium_domain_permission.verb) LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@.billium_domain_permission(text, text) IS
	'internal: the permission a command (view, create, edit, delete) of a domain needs, for billium_protect_table';

CREATE FUNCTION @extschema@.billium_protect_table(tbl regclass, domain text,
		merchant_column name DEFAULT 'merchant_id') RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rel record;
	coltype oid;
	verb text;
	perm text;
	create_perm text;
	note text;
	was_enabled boolean;
	was_forced boolean;
	old record;
BEGIN
	IF tbl IS NULL OR domain IS NULL OR merchant_column IS NULL THEN
		RAISE EXCEPTION 'billium_protect_table: table, domain and column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity, c.relname, n.nspname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF rel.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT EXISTS (SELECT FROM @extschema@.permissions p
				   WHERE p.domain OPERATOR(pg_catalog.=) billium_protect_table.domain) THEN
		RAISE EXCEPTION 'unknown permission domain "%"', domain USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The domains are ' || (SELECT string_agg(DISTINCT p.domain, ', ') FROM @extschema@.permissions p) || '.';
	END IF;
	SELECT a.atttypid INTO coltype FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) merchant_column
	  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', merchant_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF coltype OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
		RAISE EXCEPTION 'column "%" of relation % is of type %, not uuid', merchant_column, tbl,
			coltype::regtype USING ERRCODE = 'datatype_mismatch';
	END IF;

	-- Called again: keep the settings from before the first call, and replace the policies
	-- (whatever domain they were for).
	was_enabled := rel.relrowsecurity;
	was_forced := rel.relforcerowsecurity;
	FOR old IN SELECT * FROM @extschema@.billium_protect_policies(tbl) LOOP
		IF old.note IS NOT NULL THEN
			was_enabled := strpos(old.note, 'row level security was enabled') OPERATOR(pg_catalog.>) 0;
			was_forced := strpos(old.note, 'and forced') OPERATOR(pg_catalog.>) 0;
		END IF;
		EXECUTE format('DROP POLICY %I ON %I.%I', old.policy, rel.nspname, rel.relname);
	END LOOP;

	EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
				   rel.nspname, rel.relname);
	-- Each command's permission: the domain's own, or for a domain without create or delete
	-- (customer, checkout) its edit; with neither (report) the command is refused.  The policies
	-- are written by billium_policy_clause, as the extension's own (billium.policy_rules).
	create_perm := @extschema@.billium_domain_permission(domain, 'create');
	FOREACH verb IN ARRAY ARRAY['view', 'create', 'edit', 'delete'] LOOP
		perm := @extschema@.billium_domain_permission(domain, verb);
		EXECUTE format('CREATE POLICY %I ON %I.%I %s', 'billium_' || domain || '_' || verb,
					   rel.nspname, rel.relname,
					   @extschema@.billium_policy_clause(
						   CASE verb WHEN 'view' THEN 'SELECT' WHEN 'create' THEN 'INSERT'
									 WHEN 'edit' THEN 'UPDATE' ELSE 'DELETE' END,
						   perm, merchant_column, NULL, NULL, create_perm));
		note := format('added by billium_protect_table: %s needs %s', verb, coalesce(perm, 'a permission the domain lacks'));
		IF verb = 'view' THEN
			note := note || format('; before it, row level security was %s',
								   CASE WHEN NOT was_enabled AND NOT was_forced THEN 'disabled and not forced'
										WHEN NOT was_enabled THEN 'disabled and forced'
										WHEN NOT was_forced THEN 'enabled and not forced'
										ELSE 'enabled and forced' END);
		END IF;
		EXECUTE format('COMMENT ON POLICY %I ON %I.%I IS %L', 'billium_' || domain || '_' || verb,
					   rel.nspname, rel.relname, note);
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_protect_table(regclass, text, name) IS
	'put a table of your own under billium''s policies for a domain: enables and forces row-level security and creates billium_<domain>_{view,create,edit,delete} (the table''s owner; calling it again is harmless)';

-- The policies billium_protect_table added to a table, and for the view policy its note.
CREATE FUNCTION @extschema@.billium_protect_policies(tbl regclass, OUT policy name, OUT note text)
	RETURNS SETOF record
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pol.polname,
		   CASE WHEN pol.polname::text LIKE '%\_view' THEN d.description END
	FROM pg_policy pol
	LEFT JOIN pg_description d ON d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
							  AND d.objoid OPERATOR(pg_catalog.=) pol.oid AND d.objsubid OPERATOR(pg_catalog.=) 0
	WHERE pol.polrelid OPERATOR(pg_catalog.=) tbl
	  AND pol.polname::text OPERATOR(pg_catalog.=) ANY (
		  SELECT 'billium_' || dom.domain || '_' || v.verb
		  FROM (SELECT DISTINCT p.domain FROM @extschema@.permissions p) AS dom,
			   (VALUES ('view'), ('create'), ('edit'), ('delete')) AS v(verb))
	ORDER BY pol.polname::text LIKE '%\_view', pol.polname
$$;
COMMENT ON FUNCTION @extschema@.billium_protect_policies(regclass) IS
	'the policies billium_protect_table added to the table (the view policy last, with its note)';

CREATE FUNCTION @extschema@.billium_unprotect_table(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rel record;
	old record;
	was_enabled boolean;
	was_forced boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'billium_unprotect_table: table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relowner, c.relname, n.nspname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	FOR old IN SELECT * FROM @extschema@.billium_protect_policies(tbl) LOOP
		IF old.note IS NOT NULL THEN
			was_enabled := strpos(old.note, 'row level security was enabled') OPERATOR(pg_catalog.>) 0;
			was_forced := strpos(old.note, 'and forced') OPERATOR(pg_catalog.>) 0;
		END IF;
		EXECUTE format('DROP POLICY %I ON %I.%I', old.policy, rel.nspname, rel.relname);
	END LOOP;
	IF was_enabled IS NOT NULL AND NOT was_enabled THEN
		EXECUTE format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY', rel.nspname, rel.relname);
	END IF;
	IF was_forced IS NOT NULL AND NOT was_forced THEN
		EXECUTE format('ALTER TABLE %I.%I NO FORCE ROW LEVEL SECURITY', rel.nspname, rel.relname);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_unprotect_table(regclass) IS
	'undo billium_protect_table: drop its billium_<domain>_<verb> policies and restore the row-level security settings from before (the table''s owner)';

REVOKE ALL ON FUNCTION
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass),
	@extschema@.billium_domain_permission(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass)
TO billium_api;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass)
TO billium_admin;
-- billium_protect_table runs as its caller and asks it.
GRANT EXECUTE ON FUNCTION @extschema@.billium_domain_permission(text, text) TO billium_api, billium_admin;
