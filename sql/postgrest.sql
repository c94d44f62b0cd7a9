/* billium: PostgREST's db-pre-request asks the gate (issue 12, item 11). */

------------------------------------------------------------------------------------------------
-- PostgREST: a db-pre-request function maps the request's method and path to an action and asks
-- the gate, so what the gate refuses (a pk key reading a list, a permission the key lacks) is
-- refused there too, before row-level security lets the statement run.  A GET is a list unless
-- it asks for one object (Accept: application/vnd.pgrst.object+json): PostgREST does not pass
-- the query string to the database.
------------------------------------------------------------------------------------------------

-- The action of a PostgREST request to a table or view of the extension, or null (another path,
-- /rpc/ functions, which ask the gate themselves, and tables no action names).
CREATE FUNCTION @extschema@.billium_postgrest_action(method text, path text, headers jsonb)
	RETURNS text
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH req AS (
		SELECT pg_catalog.ltrim(pg_catalog.split_part(billium_postgrest_action.path, '?', 1), '/') AS relation,
			   CASE pg_catalog.upper(billium_postgrest_action.method)
				   WHEN 'GET' THEN 'SELECT' WHEN 'HEAD' THEN 'SELECT' WHEN 'POST' THEN 'INSERT'
				   WHEN 'PUT' THEN 'INSERT' WHEN 'PATCH' THEN 'UPDATE' WHEN 'DELETE' THEN 'DELETE' END AS command,
			   coalesce(billium_postgrest_action.headers ->> 'accept', '')
				   LIKE '%application/vnd.pgrst.object%' AS one),
	candidates AS (
		SELECT r.actions FROM @extschema@.policy_rules r, req
		WHERE r.tbl::text OPERATOR(pg_catalog.=) req.relation AND r.command OPERATOR(pg_catalog.=) req.command
		  AND r.row_filter IS NULL
		UNION ALL
		-- The reports view has no policy of its own.
		SELECT ARRAY['reports.retrieve', 'reports.list'] FROM req
		WHERE req.relation OPERATOR(pg_catalog.=) 'reports' AND req.command OPERATOR(pg_catalog.=) 'SELECT')
	SELECT coalesce(
		(SELECT a FROM candidates c, req, unnest(c.actions) AS a
		 WHERE a LIKE CASE WHEN req.one THEN '%.retrieve' ELSE '%.list' END LIMIT 1),
		(SELECT c.actions[1] FROM candidates c LIMIT 1))
$$;
COMMENT ON FUNCTION @extschema@.billium_postgrest_action(text, text, jsonb) IS
	'the action of a PostgREST request (method, path, request headers) to a table of the extension, or null';

-- PostgREST's db-pre-request: ask the gate for the request's action.  The merchant: a key's own;
-- a dashboard session names it in an x-merchant-id header, and without one only the policies
-- decide (they hold it to its teams).
CREATE FUNCTION @extschema@.billium_postgrest_pre_request() RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	headers jsonb := coalesce(nullif(pg_catalog.current_setting('request.headers', true), ''), '{}')::jsonb;
	action text := @extschema@.billium_postgrest_action(pg_catalog.current_setting('request.method', true),
														 pg_catalog.current_setting('request.path', true), headers);
	merchant uuid;
BEGIN
	IF action IS NULL THEN
		RETURN;
	END IF;
	IF headers ->> 'x-merchant-id' ~ '^[0-9a-fA-F-]{32,36}$' THEN
		merchant := (headers ->> 'x-merchant-id')::uuid;
	ELSIF (@extschema@.billium_current_principal()).kind OPERATOR(pg_catalog.=) 'user' THEN
		RETURN;
	END IF;
	PERFORM @extschema@.billium_authorize(action, merchant);
END
$$;
COMMENT ON FUNCTION @extschema@.billium_postgrest_pre_request() IS
	'PostgREST db-pre-request: ask the gate for the action of the request''s method and path (a pk key''s list is refused), before row-level security runs the statement';

REVOKE ALL ON FUNCTION
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request()
TO billium_api, billium_admin;
