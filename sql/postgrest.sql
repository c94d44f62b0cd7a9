/* billium: PostgREST's db-pre-request asks the gate. */

------------------------------------------------------------------------------------------------
-- PostgREST: a db-pre-request function maps the request's method and path to an action and asks
-- the gate, so what the gate refuses (a pk key reading a list, a permission the key lacks) is
-- refused there too, before row-level security lets the statement run.  A GET is a list unless
-- it asks for one object (Accept: application/vnd.pgrst.object+json): PostgREST does not pass
-- the query string (limit, offset, filters) to the database.  The path is read as PostgREST
-- routes it, and a pk key's request that maps to no action is refused: it fails closed.
------------------------------------------------------------------------------------------------

-- The segments of a request path as PostgREST routes them: the query string cut, each segment
-- percent-decoded on its own (request.path is the raw path; PostgREST routes on the decoded
-- segments, so an encoded slash stays inside its segment), empty segments (a leading, trailing
-- or doubled slash) dropped, case kept (PostgREST quotes the name).  Null when a segment does not
-- decode to UTF-8 text.
CREATE FUNCTION @extschema@.billium_postgrest_path(path text) RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	segments text[] := '{}';
	segment text;
BEGIN
	FOREACH segment IN ARRAY pg_catalog.string_to_array(pg_catalog.split_part(coalesce(path, ''), '?', 1), '/') LOOP
		CONTINUE WHEN segment OPERATOR(pg_catalog.=) '';
		IF pg_catalog.strpos(segment, '%') OPERATOR(pg_catalog.>) 0 THEN
			BEGIN
				segment := pg_catalog.convert_from(
					(SELECT pg_catalog.string_agg(
								CASE WHEN t.m[1] OPERATOR(pg_catalog.~) '^%[0-9A-Fa-f]{2}$'
									 THEN pg_catalog.decode(pg_catalog.substr(t.m[1], 2), 'hex')
									 ELSE pg_catalog.convert_to(t.m[1], 'UTF8') END, ''::bytea ORDER BY t.n)
					 FROM pg_catalog.regexp_matches(segment, '%[0-9A-Fa-f]{2}|[^%]+|%', 'g') WITH ORDINALITY AS t(m, n)),
					'UTF8');
			EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
				RETURN NULL;
			END;
		END IF;
		segments := segments OPERATOR(pg_catalog.||) segment;
	END LOOP;
	RETURN segments;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_postgrest_path(text) IS
	'the segments of a PostgREST request path as PostgREST routes them (query string cut, each segment percent-decoded, empty ones dropped), or null when one does not decode';

-- The action of a PostgREST request to a table or view of the extension, or null (another path,
-- /rpc/ functions, which ask the gate themselves, tables no action names, and methods that read
-- or write no row, such as OPTIONS).  The method's case is not significant here.
CREATE FUNCTION @extschema@.billium_postgrest_action(method text, path text, headers jsonb)
	RETURNS text
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH req AS (
		SELECT segments[1] AS relation,
			   CASE pg_catalog.upper(billium_postgrest_action.method)
				   WHEN 'GET' THEN 'SELECT' WHEN 'HEAD' THEN 'SELECT' WHEN 'POST' THEN 'INSERT'
				   WHEN 'PUT' THEN 'INSERT' WHEN 'PATCH' THEN 'UPDATE' WHEN 'DELETE' THEN 'DELETE' END AS command,
			   coalesce(billium_postgrest_action.headers OPERATOR(pg_catalog.->>) 'accept', '')
				   LIKE '%application/vnd.pgrst.object%' AS one
		FROM (SELECT @extschema@.billium_postgrest_path(billium_postgrest_action.path) AS segments) s
		WHERE pg_catalog.cardinality(s.segments) OPERATOR(pg_catalog.=) 1),
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
-- decide (they hold it to its teams).  PostgREST qualifies the request's relation with the
-- schema it sets first in search_path (the exposed schema, or the one Accept-Profile or
-- Content-Profile picked): only there is a path one of billium's tables.  The argument's default
-- reads that schema: a default is evaluated by the caller, under PostgREST's search_path, before
-- this function's own pinned search_path applies.  A PUT, or a POST asking to merge duplicates,
-- is an upsert: it needs the update action too.  A pk key's request that maps to no action,
-- other than an /rpc/ call, is refused.
CREATE FUNCTION @extschema@.billium_postgrest_pre_request(
	request_schema name DEFAULT (pg_catalog.current_schemas(false))[1]) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	headers jsonb := coalesce(nullif(pg_catalog.current_setting('request.headers', true), ''), '{}')::pg_catalog.jsonb;
	method text := pg_catalog.upper(coalesce(pg_catalog.current_setting('request.method', true), ''));
	path text := pg_catalog.current_setting('request.path', true);
	segments text[] := @extschema@.billium_postgrest_path(path);
	action text;
	upsert_action text;
	principal @extschema@.billium_principal;
	merchant uuid;
BEGIN
	IF billium_postgrest_pre_request.request_schema OPERATOR(pg_catalog.=) (SELECT n.nspname FROM pg_catalog.pg_namespace n
										  WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace) THEN
		action := @extschema@.billium_postgrest_action(method, path, headers);
		IF method OPERATOR(pg_catalog.=) 'PUT'
		   OR (method OPERATOR(pg_catalog.=) 'POST'
			   AND coalesce(headers OPERATOR(pg_catalog.->>) 'prefer', '') OPERATOR(pg_catalog.~~) '%resolution=merge-duplicates%') THEN
			upsert_action := @extschema@.billium_postgrest_action('PATCH', path, headers);
		END IF;
	END IF;
	IF action IS NULL THEN
		IF pg_catalog.cardinality(segments) OPERATOR(pg_catalog.=) 2 AND segments[1] OPERATOR(pg_catalog.=) 'rpc' THEN
			RETURN;
		END IF;
		principal := @extschema@.billium_current_principal();
		IF principal.kind OPERATOR(pg_catalog.=) 'api_key' AND principal.key_type OPERATOR(pg_catalog.=) 'pk' THEN
			PERFORM @extschema@.billium_deny('SECRET_KEY_REQUIRED', NULL);
		END IF;
		RETURN;
	END IF;
	IF (headers OPERATOR(pg_catalog.->>) 'x-merchant-id') OPERATOR(pg_catalog.~) '^[0-9a-fA-F-]{32,36}$' THEN
		merchant := (headers OPERATOR(pg_catalog.->>) 'x-merchant-id')::pg_catalog.uuid;
	ELSIF (@extschema@.billium_current_principal()).kind OPERATOR(pg_catalog.=) 'user' THEN
		RETURN;
	END IF;
	PERFORM @extschema@.billium_authorize(action, merchant);
	IF upsert_action IS NOT NULL THEN
		PERFORM @extschema@.billium_authorize(upsert_action, merchant);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_postgrest_pre_request(name) IS
	'PostgREST db-pre-request: ask the gate for the action of the request''s method and path (a pk key''s list is refused, and so is any pk request that maps to no action), before row-level security runs the statement';

REVOKE ALL ON FUNCTION
	@extschema@.billium_postgrest_path(text),
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request(name)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_postgrest_path(text),
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request(name)
TO billium_api, billium_admin;
