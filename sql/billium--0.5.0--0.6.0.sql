/*
 * billium 0.5.0 -> 0.6.0.  The install script of 0.6.0 is built from the topic files of sql/;
 * this diff brings a 0.5.0 database to the same objects.  Each change goes under a comment
 * naming its topic.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Test fixtures: out of the production extension.  billium_test_user, _merchant, _member and
-- _key write past the policies; the test-only extension billium_test (test/) has them now.
------------------------------------------------------------------------------------------------

DROP FUNCTION @extschema@.billium_test_key(uuid, text, @extschema@.billium_permset);
DROP FUNCTION @extschema@.billium_test_member(uuid, text, text);
DROP FUNCTION @extschema@.billium_test_merchant(text, text);
DROP FUNCTION @extschema@.billium_test_user(text);

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

-- The check once now, so an upgrade tells the operator.
DO $$
DECLARE
	found bigint;
BEGIN
	SELECT pg_catalog.count(*) INTO found FROM @extschema@.billium_check_secret_settings();
	IF found OPERATOR(pg_catalog.>) 0 THEN
		RAISE WARNING 'a billium secret or credential is stored in a catalog every role can read (% entries)', found
			USING DETAIL = 'Settings stored per role, per database or per function are readable by every role in pg_db_role_setting, pg_roles.rolconfig and pg_proc.proconfig.',
				  HINT = 'SELECT * FROM billium.billium_check_secret_settings() lists them; billium.billium_remove_secret_settings() removes them. Then change the secret and revoke the keys.';
	END IF;
END
$$;


------------------------------------------------------------------------------------------------
-- Leaked keys (issue 17).  A secret scanner (GitHub's secret scanning partner program, through
-- the reference gateway) reports tokens it found in public; billium_report_leaked_keys checks
-- each one's checksum offline, looks up only the well-formed ones, and revokes a leaked sk key
-- at once, recording when and where it was found on the key and in the audit trail (never the
-- token).  A pk key is public by design: its sighting is audited, nothing is revoked.  Only
-- billium_scanner may call it, and billium_scanner holds nothing else.
------------------------------------------------------------------------------------------------

-- Cluster-wide, like billium_api: created when missing, outlives the extension.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_scanner') THEN
		CREATE ROLE billium_scanner NOLOGIN;
	END IF;
END
$$;

-- Set together with revoked_at when a report revokes the key (and only then): verification
-- answers API_KEY_LEAKED instead of API_KEY_REVOKED for it.
ALTER TABLE @extschema@.api_keys
	ADD COLUMN leaked_at timestamptz,
	ADD COLUMN leak_source_url text;
COMMENT ON COLUMN @extschema@.api_keys.leaked_at IS
	'when a secret scanner reported the key leaked and it was revoked for it (billium_report_leaked_keys)';
COMMENT ON COLUMN @extschema@.api_keys.leak_source_url IS
	'where the scanner found the key (the URL it reported)';
GRANT SELECT (leaked_at, leak_source_url) ON @extschema@.api_keys TO billium_api;

-- billium_audit_key shows a leak's when and where: defined once, with the roll's columns, below.

-- Keys: a revoke for a leak is 'api_keys.leak'; the rest as before.
CREATE OR REPLACE FUNCTION @extschema@.billium_api_keys_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'api_key', 'api_keys.create', NULL,
										  @extschema@.billium_audit_key(NEW));
	ELSIF @extschema@.billium_audit_key(NEW) IS DISTINCT FROM @extschema@.billium_audit_key(OLD) THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'api_key',
			CASE WHEN NEW.leaked_at IS DISTINCT FROM OLD.leaked_at THEN 'api_keys.leak'
				 WHEN NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN 'api_keys.revoke'
				 WHEN NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN 'api_keys.roll'
				 ELSE 'api_keys.update' END,
			@extschema@.billium_audit_key(OLD), @extschema@.billium_audit_key(NEW));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_api_keys_audit() IS
	'trigger: audit a key''s create, edit, roll, revoke and leak (never its hash)';

-- Revoke a key's descendants (the keys it minted, at any depth: created_by_key), each update
-- audited by the trigger as a revoke.  Internal, without a gate: callers authorize first.  Each
-- pass runs on a fresh snapshot, so a child committed while a pass waited on a row is found by
-- the next; done when a pass revokes nothing.  The path stops a cycle a hand-written row could
-- make.
-- billium_revoke_api_key (issue 12, item 4) and billium_report_leaked_keys both use it.
CREATE FUNCTION @extschema@.billium_revoke_key_descendants(key_id uuid) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	revoked bigint;
	total bigint := 0;
BEGIN
	LOOP
		WITH RECURSIVE tree (id, path) AS (
			SELECT k.id, ARRAY[k.id] FROM @extschema@.api_keys k
			WHERE k.id OPERATOR(pg_catalog.=) billium_revoke_key_descendants.key_id
			UNION ALL
			SELECT c.id, t.path OPERATOR(pg_catalog.||) c.id
			FROM tree t JOIN @extschema@.api_keys c ON c.created_by_key OPERATOR(pg_catalog.=) t.id
			WHERE NOT c.id OPERATOR(pg_catalog.=) ANY (t.path))
		UPDATE @extschema@.api_keys k SET revoked_at = pg_catalog.now()
		WHERE k.id IN (SELECT t.id FROM tree t WHERE t.id OPERATOR(pg_catalog.<>) billium_revoke_key_descendants.key_id)
		  AND k.revoked_at IS NULL;
		GET DIAGNOSTICS revoked = ROW_COUNT;
		total := total OPERATOR(pg_catalog.+) revoked;
		EXIT WHEN revoked OPERATOR(pg_catalog.=) 0;
	END LOOP;
	RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_revoke_key_descendants(uuid) IS
	'internal: revoke every key the key minted, at any depth (each audited); returns how many';
REVOKE ALL ON FUNCTION @extschema@.billium_revoke_key_descendants(uuid) FROM PUBLIC;

CREATE FUNCTION @extschema@.billium_report_leaked_keys(tokens text[], source_url text)
	RETURNS TABLE (token text, label text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	candidate text;
	k @extschema@.api_keys;
BEGIN
	IF pg_catalog.length(source_url) OPERATOR(pg_catalog.>) 2048 THEN
		RAISE EXCEPTION 'source URL is longer than 2048 characters' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The reported keys are locked in one order (their hashes') before any is revoked, so that two
	-- reports naming the same keys in different orders wait for each other instead of deadlocking.
	PERFORM FROM @extschema@.api_keys a
	WHERE a.key_hash OPERATOR(pg_catalog.=) ANY (
		SELECT pg_catalog.sha256(pg_catalog.convert_to(u.t, 'UTF8')) FROM pg_catalog.unnest(tokens) AS u(t)
		WHERE @extschema@.billium_key_is_well_formed(u.t))
	ORDER BY a.key_hash FOR UPDATE;
	FOR candidate IN SELECT u.t FROM pg_catalog.unnest(tokens) WITH ORDINALITY AS u(t, n) ORDER BY u.n LOOP
		token := candidate;
		label := 'false_positive';
		-- Format and checksum first, in C and without a table: noise is never looked up.
		IF candidate IS NOT NULL AND @extschema@.billium_key_is_well_formed(candidate) THEN
			-- Locked: a concurrent report of the same key waits, then finds it revoked.
			SELECT * INTO k FROM @extschema@.api_keys a
			WHERE a.key_hash OPERATOR(pg_catalog.=) pg_catalog.sha256(pg_catalog.convert_to(candidate, 'UTF8'))
			FOR UPDATE;
			IF FOUND AND k.key_type OPERATOR(pg_catalog.=) 'sk' AND k.revoked_at IS NULL THEN
				-- Live or expired: revoked now, with the keys it minted, as a revoke does (the
				-- statement trigger invalidates every backend's cached records at commit).
				UPDATE @extschema@.api_keys a
				SET revoked_at = pg_catalog.now(), leaked_at = pg_catalog.now(),
					leak_source_url = billium_report_leaked_keys.source_url
				WHERE a.id OPERATOR(pg_catalog.=) k.id;
				PERFORM @extschema@.billium_revoke_key_descendants(k.id);
				label := 'true_positive';
			ELSIF FOUND THEN
				-- A pk key (public by design) or a key already revoked: the sighting is recorded,
				-- the key row is left as it is.
				PERFORM @extschema@.billium_audit(k.merchant_id, 'api_key', 'api_keys.leak_sighting', NULL,
					pg_catalog.jsonb_build_object('id', k.id, 'key_type', k.key_type, 'hint', k.hint,
												  'revoked', k.revoked_at IS NOT NULL,
												  'found_at', pg_catalog.now(),
												  'source_url', billium_report_leaked_keys.source_url));
				IF k.key_type OPERATOR(pg_catalog.=) 'sk' THEN
					label := 'true_positive';
				END IF;
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_report_leaked_keys(text[], text) IS
	'a secret scanner''s report: per token, true_positive (an sk key of ours, now revoked with the keys it minted) or false_positive (malformed, bad checksum, unknown, or a pk key); audited with source_url, never the token (billium_scanner only)';

REVOKE ALL ON FUNCTION @extschema@.billium_report_leaked_keys(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_report_leaked_keys(text[], text) TO billium_scanner;

------------------------------------------------------------------------------------------------
-- The shape of a grant (issue 12, decision 3).  A grant, a key's or a team member's, holding a
-- permission of a domain other than the domain's view and its create-like ones (*:create,
-- team:invite) must also hold the domain's view: writing implies seeing what you write, so the
-- gate and the row-level policies (an UPDATE finds its row through the view policy) agree.  Such
-- a grant is refused with 22023 naming the missing views, after the 403 for exceeding the caller,
-- at key creation, key update and team grant changes.  Rows from before 0.6.0 are reported by
-- this script and left as they are; a change may keep a lack such a row has, never add one.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_permset_missing_views(@extschema@.billium_permset)
	RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_permset_missing_views(@extschema@.billium_permset) IS
	'the view permissions the set lacks for the domains it writes in ({} when a key or team grant may have it)';

-- previous: the grant being replaced, null for a new one.  Internal.
CREATE FUNCTION @extschema@.billium_check_grant_shape(permissions @extschema@.billium_permset,
		previous @extschema@.billium_permset) RETURNS void
	LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	missing @extschema@.billium_permset :=
		@extschema@.billium_permset_missing_views(permissions)
		OPERATOR(@extschema@.-) coalesce(@extschema@.billium_permset_missing_views(previous), '{}');
BEGIN
	IF missing OPERATOR(@extschema@.<>) '{}' THEN
		RAISE EXCEPTION 'the grant lacks %', pg_catalog.array_to_string(@extschema@.billium_permset_names(missing), ', ')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A grant holding a permission of a domain other than its view and create permissions (and team:invite) must also hold the domain''s view permission.',
				  HINT = 'Add the missing view permissions, or remove the permissions that need them.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_check_grant_shape(@extschema@.billium_permset, @extschema@.billium_permset) IS
	'internal: refuse (22023) a grant that writes in a domain without its view, unless the grant it replaces lacked that view already';
-- The team guard runs as the writer, who needs what it calls.
REVOKE ALL ON FUNCTION @extschema@.billium_check_grant_shape(@extschema@.billium_permset, @extschema@.billium_permset) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_check_grant_shape(@extschema@.billium_permset, @extschema@.billium_permset) TO billium_api;

CREATE OR REPLACE FUNCTION @extschema@.billium_update_api_key(
		key_id uuid, permissions @extschema@.billium_permset DEFAULT NULL, name text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	target @extschema@.api_keys;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.update', merchant);
	SELECT * INTO target FROM @extschema@.api_keys WHERE id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	IF permissions IS NOT NULL THEN
		PERFORM @extschema@.billium_check_key_grant(merchant, target.key_type, permissions, 'api_keys.update');
		PERFORM @extschema@.billium_check_grant_shape(permissions, target.permissions);
	END IF;
	UPDATE @extschema@.api_keys AS k
	SET permissions = coalesce(billium_update_api_key.permissions, k.permissions),
		name = coalesce(billium_update_api_key.name, k.name)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text) IS
	'change a key''s permissions or name (needs api_key:edit; the same caps and shape as creating)';

CREATE OR REPLACE FUNCTION @extschema@.billium_team_members_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	action text := CASE TG_OP WHEN 'INSERT' THEN 'team.invite' WHEN 'UPDATE' THEN 'team.update_role'
							  ELSE 'team.remove' END;
	own @extschema@.billium_permset;
	excess @extschema@.billium_permset;
BEGIN
	IF @extschema@.billium_internal_write() THEN
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		IF NEW.merchant_id IS DISTINCT FROM OLD.merchant_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
			RAISE EXCEPTION 'a team membership cannot move to another merchant or user'
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.role = OLD.role AND NEW.permissions OPERATOR(@extschema@.=) OLD.permissions THEN
			RETURN NEW;		-- nothing changes, nothing is granted
		END IF;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.role = 'OWNER' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('reason', 'the OWNER cannot be removed or demoted; use billium_transfer_ownership'));
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF NEW.role = 'OWNER' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('reason', 'a merchant has exactly one OWNER; use billium_transfer_ownership'));
	END IF;
	own := @extschema@.billium_principal_permissions(NEW.merchant_id);
	excess := (NEW.permissions OPERATOR(@extschema@.|) @extschema@.billium_role_cap(NEW.role))
			  OPERATOR(@extschema@.-) own;
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'the role or permissions exceed the caller''s own'));
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM @extschema@.billium_check_grant_shape(NEW.permissions, NULL);
	ELSIF NEW.permissions OPERATOR(@extschema@.<>) OLD.permissions THEN
		-- A change of role alone narrows the grant to the new cap (team_members_fill): that
		-- never adds a lack, so a demotion is never refused for a row from before 0.6.0.
		PERFORM @extschema@.billium_check_grant_shape(NEW.permissions, OLD.permissions);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_team_members_guard() IS
	'trigger: nobody grants a role or permissions above their own, nor a grant that writes in a domain without viewing it; the OWNER changes only through billium_transfer_ownership';

-- Grants from before 0.6.0 without the shape: reported, never narrowed or widened (adding the view
-- would widen a grant silently; removing what needs it would break an integration).  They keep
-- verifying as before.
DO $$
DECLARE
	keys text;
	members text;
BEGIN
	SELECT pg_catalog.string_agg(k.id::text, ', ' ORDER BY k.id) INTO keys
	FROM @extschema@.api_keys k
	WHERE k.revoked_at IS NULL
	  AND @extschema@.billium_permset_missing_views(k.permissions) OPERATOR(@extschema@.<>) '{}';
	IF keys IS NOT NULL THEN
		RAISE WARNING 'billium 0.6.0: API keys whose grant writes in a domain without its view: %', keys
			USING HINT = 'They keep working. Add the missing views (billium_update_api_key) or replace the keys; billium_permset_missing_views(permissions) names what each lacks.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('%s/%s', tm.merchant_id, tm.user_id), ', ' ORDER BY tm.merchant_id, tm.user_id) INTO members
	FROM @extschema@.team_members tm
	WHERE @extschema@.billium_permset_missing_views(tm.permissions) OPERATOR(@extschema@.<>) '{}';
	IF members IS NOT NULL THEN
		RAISE WARNING 'billium 0.6.0: team grants (merchant/user) that write in a domain without its view: %', members
			USING HINT = 'They keep working. Add the missing views, or narrow the grants.';
	END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Keys: rolling (issue 12, item 1).  A roll hands the caller a working key, so the caller must
-- hold every permission of the rolled key's grant, as when creating one.  The replacement keeps
-- the old key's grant, type, creator and parent (a roller never becomes a parent whose
-- revocation would take the replacement along) and records who rolled it.  The old key's grace
-- period is at most billium.max_roll_grace (a superuser-only setting, 7 days by default).
------------------------------------------------------------------------------------------------

-- A record, like the audit trail: no foreign keys, so it outlives the keys and users it names.
ALTER TABLE @extschema@.api_keys
	ADD COLUMN rolled_from uuid,
	ADD COLUMN rolled_by_user uuid,
	ADD COLUMN rolled_by_key uuid;
COMMENT ON COLUMN @extschema@.api_keys.rolled_from IS
	'the key this one replaced (billium_roll_api_key); null for a key created afresh';
COMMENT ON COLUMN @extschema@.api_keys.rolled_by_user IS
	'who rolled it: the dashboard user, or the rolling key''s creator';
COMMENT ON COLUMN @extschema@.api_keys.rolled_by_key IS
	'the key that rolled it, when a key did';
GRANT SELECT (rolled_from, rolled_by_user, rolled_by_key) ON @extschema@.api_keys TO billium_api;

-- The audit trail shows a leak's when and where on the key (the leak row and every later one),
-- and who rolled a replacement (its create row).
CREATE OR REPLACE FUNCTION @extschema@.billium_audit_key(k @extschema@.api_keys) RETURNS jsonb
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', k.id, 'key_type', k.key_type, 'name', k.name, 'hint', k.hint,
		'permissions', @extschema@.billium_permset_names(k.permissions),
		'created_by', k.created_by, 'created_by_key', k.created_by_key,
		'expires_at', k.expires_at, 'revoked_at', k.revoked_at)
		OPERATOR(pg_catalog.||)
		CASE WHEN k.leaked_at IS NULL THEN '{}'::jsonb
			 ELSE pg_catalog.jsonb_build_object('leaked_at', k.leaked_at,
												'leak_source_url', k.leak_source_url) END
		OPERATOR(pg_catalog.||)
		CASE WHEN k.rolled_from IS NULL THEN '{}'::jsonb
			 ELSE pg_catalog.jsonb_build_object('rolled_from', k.rolled_from,
												'rolled_by_user', k.rolled_by_user,
												'rolled_by_key', k.rolled_by_key) END
$$;

CREATE OR REPLACE FUNCTION @extschema@.billium_roll_api_key(key_id uuid, grace interval DEFAULT '0',
		OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	caller @extschema@.billium_principal;
	old @extschema@.api_keys;
	max_grace interval;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	caller := @extschema@.billium_authorize('api_keys.roll', merchant);
	SELECT * INTO old FROM @extschema@.api_keys k WHERE k.id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
	IF NOT FOUND OR old.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'the API key does not exist or is revoked' USING ERRCODE = 'no_data_found';
	END IF;
	-- The caller receives a working key with the old key's grant: the rule of creating one.
	PERFORM @extschema@.billium_check_key_grant(merchant, old.key_type, old.permissions, 'api_keys.roll');
	IF grace IS NULL OR grace OPERATOR(pg_catalog.<) '0' THEN
		RAISE EXCEPTION 'grace period must not be negative or null' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The library is loaded (billium_authorize is in it), so its setting exists.
	max_grace := pg_catalog.current_setting('billium.max_roll_grace')::pg_catalog.interval;
	IF grace OPERATOR(pg_catalog.>) max_grace THEN
		RAISE EXCEPTION 'grace period % exceeds billium.max_roll_grace (%)', grace, max_grace
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Roll with a shorter grace period; only a superuser may raise billium.max_roll_grace.';
	END IF;
	api_key := @extschema@.billium_key_generate(old.key_type);
	-- The replacement keeps the grant, name, type, creator, parent and expiry of the key it
	-- replaces, and records who rolled it.
	INSERT INTO @extschema@.api_keys AS k (merchant_id, key_type, name, hint, key_hash, permissions,
										   created_by, created_by_key, expires_at,
										   rolled_from, rolled_by_user, rolled_by_key)
	VALUES (old.merchant_id, old.key_type, old.name, substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), old.permissions, old.created_by, old.created_by_key,
			old.expires_at, old.id, caller.user_id, caller.key_id)
	RETURNING k.id INTO id;
	UPDATE @extschema@.api_keys k
	SET expires_at = least(coalesce(k.expires_at, 'infinity'), now() + grace)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_roll_api_key(uuid, interval) IS
	'issue a replacement with the same grant, type, creator and parent, and expire the old key after the grace period (needs api_key:edit and every permission of the grant; grace at most billium.max_roll_grace)';

------------------------------------------------------------------------------------------------
-- Keys minted by keys (issue 12, item 4).  A key created by a key (created_by_key, its parent)
-- is valid only while every ancestor is: verification (src/lookup.c) takes "revoked" and the
-- expiry over the whole lineage.  Here: a child's expiry is capped at its ancestors' earliest
-- when it is created, and revoking a key revokes its descendants in the same transaction, each
-- change audited.
------------------------------------------------------------------------------------------------

-- Descendants are found through their parent.
CREATE INDEX api_keys_created_by_key ON @extschema@.api_keys (created_by_key)
	WHERE created_by_key IS NOT NULL;

-- The key and the keys that minted it, up the chain (depth 0 is the key).  The path stops a
-- cycle a hand-written row could make.  Internal.
CREATE FUNCTION @extschema@.billium_key_lineage(key_id uuid)
	RETURNS TABLE (id uuid, depth integer, revoked_at timestamptz, expires_at timestamptz)
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE lineage (id, parent, path, revoked_at, expires_at) AS (
		SELECT k.id, k.created_by_key, ARRAY[k.id], k.revoked_at, k.expires_at
		FROM @extschema@.api_keys k WHERE k.id OPERATOR(pg_catalog.=) billium_key_lineage.key_id
		UNION ALL
		SELECT a.id, a.created_by_key, l.path OPERATOR(pg_catalog.||) a.id, a.revoked_at, a.expires_at
		FROM lineage l JOIN @extschema@.api_keys a ON a.id OPERATOR(pg_catalog.=) l.parent
		WHERE NOT a.id OPERATOR(pg_catalog.=) ANY (l.path))
	SELECT l.id, pg_catalog.cardinality(l.path) OPERATOR(pg_catalog.-) 1, l.revoked_at, l.expires_at
	FROM lineage l
$$;
COMMENT ON FUNCTION @extschema@.billium_key_lineage(uuid) IS
	'internal: the key and its ancestors (the keys that minted it), depth 0 being the key';

REVOKE ALL ON FUNCTION @extschema@.billium_key_lineage(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.billium_create_api_key(
		merchant_id uuid, key_type text, permissions @extschema@.billium_permset, name text,
		expires_at timestamptz DEFAULT NULL, OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal;
	parent @extschema@.api_keys;
	cap timestamptz;
BEGIN
	caller := @extschema@.billium_authorize('api_keys.create', merchant_id);
	key_type := lower(key_type);
	PERFORM @extschema@.billium_check_key_grant(merchant_id, key_type, permissions, 'api_keys.create');
	PERFORM @extschema@.billium_check_grant_shape(permissions, NULL);
	IF caller.key_id IS NOT NULL THEN
		-- The parent is locked until commit: a revocation of it waits for this child to be
		-- written, then finds and revokes it; a revocation committed first is seen here.
		SELECT * INTO parent FROM @extschema@.api_keys k
		WHERE k.id OPERATOR(pg_catalog.=) caller.key_id FOR SHARE;
		IF parent.revoked_at IS NOT NULL THEN
			PERFORM @extschema@.billium_deny('API_KEY_REVOKED', 'api_keys.create');
		END IF;
		-- A child never outlives an ancestor.
		SELECT pg_catalog.min(l.expires_at) INTO cap FROM @extschema@.billium_key_lineage(caller.key_id) l;
		IF cap IS NOT NULL AND (billium_create_api_key.expires_at IS NULL
								OR billium_create_api_key.expires_at OPERATOR(pg_catalog.>) cap) THEN
			billium_create_api_key.expires_at := cap;
		END IF;
	END IF;
	api_key := @extschema@.billium_key_generate(key_type);
	INSERT INTO @extschema@.api_keys AS k (merchant_id, key_type, name, hint, key_hash, permissions,
										   created_by, created_by_key, expires_at)
	VALUES (billium_create_api_key.merchant_id, key_type, coalesce(name, ''),
			substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), permissions, caller.user_id, caller.key_id,
			billium_create_api_key.expires_at)
	RETURNING k.id INTO id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz) IS
	'create a key (needs api_key:create); the only time its plaintext exists.  A key created by a key expires no later than its ancestors';

CREATE OR REPLACE FUNCTION @extschema@.billium_revoke_api_key(key_id uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.revoke', merchant);
	UPDATE @extschema@.api_keys k SET revoked_at = now()
	WHERE k.id OPERATOR(pg_catalog.=) key_id AND k.revoked_at IS NULL;
	-- Then its descendants, pass after pass on fresh snapshots: a child being created holds its
	-- parent locked (billium_create_api_key), so a pass waits for it to commit and the next one
	-- finds and revokes it.
	PERFORM @extschema@.billium_revoke_key_descendants(key_id);
END
$$;
COMMENT ON FUNCTION @extschema@.billium_revoke_api_key(uuid) IS
	'revoke a key and every key minted from it (needs api_key:delete); every transaction after the commit refuses them';

CREATE OR REPLACE FUNCTION @extschema@.billium_explain_key(key_id uuid)
	RETURNS TABLE (step integer, name text, permissions @extschema@.billium_permset,
				   removed @extschema@.billium_permset)
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	k @extschema@.api_keys;
	member @extschema@.team_members;
	role_cap @extschema@.billium_permset;
	acc @extschema@.billium_permset;
	next @extschema@.billium_permset;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.retrieve', merchant);
	SELECT * INTO k FROM @extschema@.api_keys t WHERE t.id OPERATOR(pg_catalog.=) key_id;
	SELECT * INTO member FROM @extschema@.team_members t
	WHERE t.merchant_id OPERATOR(pg_catalog.=) k.merchant_id AND t.user_id OPERATOR(pg_catalog.=) k.created_by;
	role_cap := CASE WHEN member.role IS NULL THEN '{}' ELSE @extschema@.billium_role_cap(member.role) END;

	acc := k.permissions;
	step := 1; name := 'granted'; permissions := acc; removed := '{}';
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) @extschema@.billium_key_type_cap(k.key_type);
	step := 2; name := 'key type cap (' || k.key_type || ')'; removed := acc OPERATOR(@extschema@.-) next;
	acc := next; permissions := acc;
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) role_cap;
	step := 3; name := 'creator''s role cap (' || coalesce(member.role, 'not on the team') || ')';
	removed := acc OPERATOR(@extschema@.-) next; acc := next; permissions := acc;
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) coalesce(member.permissions, '{}');
	step := 4; name := 'creator''s grant'; removed := acc OPERATOR(@extschema@.-) next;
	acc := next; permissions := acc;
	RETURN NEXT;
	step := 5; removed := '{}';
	-- As verification decides: the key, then its ancestors (the keys that minted it).
	name := CASE WHEN k.revoked_at IS NOT NULL THEN 'effective (revoked: refused)'
				 WHEN k.expires_at <= now() THEN 'effective (expired: refused)'
				 WHEN EXISTS (SELECT FROM @extschema@.billium_key_lineage(k.id) l
							  WHERE l.depth > 0 AND l.revoked_at IS NOT NULL)
					 THEN 'effective (an ancestor revoked: refused)'
				 WHEN EXISTS (SELECT FROM @extschema@.billium_key_lineage(k.id) l
							  WHERE l.depth > 0 AND l.expires_at <= now())
					 THEN 'effective (an ancestor expired: refused)'
				 ELSE 'effective' END;
	permissions := acc;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_explain_key(uuid) IS
	'why a key may or may not do something: each step and the permissions it removed (needs api_key:view)';

-- Keys from before 0.6.0 (reported as WARNINGs: an extension script shows nothing lower).  A
-- child of a revoked key is revoked now, at its ancestor's revocation
-- time (audited, with no principal); verification already refused it.  A child whose own expiry
-- is later than an ancestor's is left as it is, and reported: verification takes the earliest.
DO $$
DECLARE
	revoked bigint;
	outliving text;
BEGIN
	WITH ancestor AS (
		SELECT k.id, (SELECT pg_catalog.min(l.revoked_at) FROM @extschema@.billium_key_lineage(k.id) l
					  WHERE l.depth OPERATOR(pg_catalog.>) 0) AS revoked_at
		FROM @extschema@.api_keys k
		WHERE k.created_by_key IS NOT NULL AND k.revoked_at IS NULL)
	UPDATE @extschema@.api_keys k SET revoked_at = a.revoked_at
	FROM ancestor a
	WHERE a.id OPERATOR(pg_catalog.=) k.id AND a.revoked_at IS NOT NULL;
	GET DIAGNOSTICS revoked = ROW_COUNT;
	IF revoked OPERATOR(pg_catalog.>) 0 THEN
		RAISE WARNING 'billium 0.6.0: revoked % key(s) minted by a revoked key, as verification already refused them', revoked;
	END IF;
	SELECT pg_catalog.string_agg(k.id::text, ', ' ORDER BY k.id) INTO outliving
	FROM @extschema@.api_keys k
	WHERE k.created_by_key IS NOT NULL AND k.revoked_at IS NULL
	  AND coalesce(k.expires_at, 'infinity') OPERATOR(pg_catalog.>)
		  (SELECT pg_catalog.min(l.expires_at) FROM @extschema@.billium_key_lineage(k.id) l
		   WHERE l.depth OPERATOR(pg_catalog.>) 0);
	IF outliving IS NOT NULL THEN
		RAISE WARNING 'billium 0.6.0: keys whose own expiry is later than an ancestor''s, which now expire with it: %', outliving;
	END IF;
END
$$;

-- Tables and policies: server-owned columns, invoice status, a pk key's price (issue 12, item 6),
-- create-only keys reading back what they insert (item 10), and every policy generated from
-- one declared table (issue 13).
------------------------------------------------------------------------------------------------

-- The payment side: the only role that marks invoices paid (billium_mark_invoice_paid).
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_payments') THEN
		CREATE ROLE billium_payments NOLOGIN;
	END IF;
END
$$;

-- An invoice may name the product it sells (the same merchant's: the key includes merchant_id).
-- A pk key must, and then pays the product's price.
ALTER TABLE @extschema@.invoices ADD COLUMN product_id uuid;
ALTER TABLE @extschema@.invoices ADD CONSTRAINT invoices_product_fkey
	FOREIGN KEY (merchant_id, product_id) REFERENCES @extschema@.products (merchant_id, id)
	ON DELETE SET NULL (product_id);
CREATE INDEX invoices_product_id ON @extschema@.invoices (merchant_id, product_id)
	WHERE product_id IS NOT NULL;
COMMENT ON COLUMN @extschema@.invoices.product_id IS
	'the product sold, of the same merchant; a pk key''s invoice must name one and takes its price and currency';

-- Ids are the server's: no default a caller could stand in for, the trigger below draws them.
-- The invoice's currency likewise: the trigger fills in the product's, or usd.
ALTER TABLE @extschema@.invoices ALTER COLUMN id DROP DEFAULT, ALTER COLUMN currency DROP DEFAULT;
ALTER TABLE @extschema@.products ALTER COLUMN id DROP DEFAULT;
ALTER TABLE @extschema@.customers ALTER COLUMN id DROP DEFAULT;
ALTER TABLE @extschema@.webhooks ALTER COLUMN id DROP DEFAULT;
ALTER TABLE @extschema@.wallets ALTER COLUMN id DROP DEFAULT;

-- Is this write checked against the caller?  Not without a principal (a superuser loading data,
-- a restore) nor for the extension's own SECURITY DEFINER functions and superusers.
CREATE FUNCTION @extschema@.billium_caller_write(caller @extschema@.billium_principal) RETURNS boolean
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT caller.kind IS NOT NULL AND NOT @extschema@.billium_internal_write()
$$;
COMMENT ON FUNCTION @extschema@.billium_caller_write(@extschema@.billium_principal) IS
	'internal: is this write made by an API caller (a principal, not the extension itself or a superuser)?';

-- Server-owned columns, named as the trigger's arguments: id (drawn), created_at and updated_at
-- (now), created_by_key and created_by_user (the principal), merchant_id (never changes).  A
-- caller's insert that gives another value, or an update that changes one, is refused.
CREATE FUNCTION @extschema@.billium_server_columns() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	checked boolean := @extschema@.billium_caller_write(caller);
	given jsonb := pg_catalog.to_jsonb(NEW);
	before jsonb;
	server jsonb := '{}';
	col text;
	value jsonb;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF checked THEN
			before := pg_catalog.to_jsonb(OLD);
			FOREACH col IN ARRAY TG_ARGV LOOP
				IF given -> col IS DISTINCT FROM before -> col THEN
					RAISE EXCEPTION 'cannot change column "%" of relation "%"', col, TG_TABLE_NAME
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'The server sets it when the row is created; it never changes.';
				END IF;
			END LOOP;
		END IF;
		RETURN NEW;
	END IF;
	FOREACH col IN ARRAY TG_ARGV LOOP
		CONTINUE WHEN col = 'merchant_id';	-- the insert policy holds it to the caller's merchants
		value := CASE col
			WHEN 'id' THEN pg_catalog.to_jsonb(pg_catalog.gen_random_uuid())
			WHEN 'created_by_key' THEN pg_catalog.to_jsonb(caller.key_id)
			WHEN 'created_by_user' THEN pg_catalog.to_jsonb(CASE WHEN caller.kind = 'user' THEN caller.user_id END)
			ELSE pg_catalog.to_jsonb(pg_catalog.now()) END;
		IF checked THEN
			IF pg_catalog.jsonb_typeof(given -> col) <> 'null' AND given -> col IS DISTINCT FROM value THEN
				RAISE EXCEPTION 'cannot set column "%" of relation "%"', col, TG_TABLE_NAME
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'The server sets it when the row is created.';
			END IF;
			server := server || pg_catalog.jsonb_build_object(col, value);
		ELSIF col LIKE 'created\_by\_%' THEN
			-- Without a principal (a restore, a superuser's load) the row keeps what it was given.
			IF caller.kind IS NOT NULL THEN
				server := server || pg_catalog.jsonb_build_object(col, value);
			END IF;
		ELSIF pg_catalog.jsonb_typeof(given -> col) = 'null' THEN
			server := server || pg_catalog.jsonb_build_object(col, value);
		END IF;
	END LOOP;
	RETURN pg_catalog.jsonb_populate_record(NEW, server);
END
$$;
COMMENT ON FUNCTION @extschema@.billium_server_columns() IS
	'trigger: the server-owned columns named as arguments are set by the server on insert and never change; a caller''s other value is refused (42501)';

-- The price of a product a caller may sell: only where it holds invoice:create, so another
-- merchant's product looks like none.
CREATE FUNCTION @extschema@.billium_invoice_product(merchant_id uuid, product_id uuid,
		OUT price bigint, OUT currency text)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT p.price, p.currency FROM @extschema@.products p
	WHERE p.merchant_id OPERATOR(pg_catalog.=) billium_invoice_product.merchant_id
	  AND p.id OPERATOR(pg_catalog.=) billium_invoice_product.product_id
	  AND '{invoice:create}'::@extschema@.billium_permset
		  OPERATOR(@extschema@.<@) @extschema@.billium_principal_permissions(billium_invoice_product.merchant_id)
$$;
COMMENT ON FUNCTION @extschema@.billium_invoice_product(uuid, uuid) IS
	'internal: the price and currency of a product of a merchant where the caller holds invoice:create';

-- Invoices: inserted open; a caller only cancels an open invoice; a pk key sells a product at
-- its price.  'paid' comes from the payment side (billium_mark_invoice_paid).
CREATE FUNCTION @extschema@.billium_invoices_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	checked boolean := @extschema@.billium_caller_write(caller);
	product record;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF checked AND NEW.status IS DISTINCT FROM OLD.status
		   AND NOT (OLD.status = 'open' AND NEW.status = 'cancelled') THEN
			RAISE EXCEPTION 'cannot change column "status" of relation "invoices" from "%" to "%"', OLD.status, NEW.status
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'An API caller may only cancel an open invoice; the payment side marks it paid.';
		END IF;
		RETURN NEW;
	END IF;
	IF checked AND NEW.status IS DISTINCT FROM 'open' THEN
		RAISE EXCEPTION 'cannot set column "status" of relation "invoices" to "%"', NEW.status
			USING ERRCODE = 'insufficient_privilege', DETAIL = 'An invoice is created open.';
	END IF;
	IF NEW.product_id IS NOT NULL THEN
		SELECT * INTO product FROM @extschema@.billium_invoice_product(NEW.merchant_id, NEW.product_id) p
		WHERE p.price IS NOT NULL;
		-- Where the caller may not create invoices, the insert policy answers, as without a product.
		IF NOT FOUND AND checked
		   AND '{invoice:create}'::@extschema@.billium_permset
			   OPERATOR(@extschema@.<@) @extschema@.billium_principal_permissions(NEW.merchant_id) THEN
			RAISE EXCEPTION 'product % does not exist', NEW.product_id USING ERRCODE = 'foreign_key_violation';
		END IF;
		IF FOUND THEN
			IF checked AND caller.key_type = 'pk' THEN
				IF NEW.amount IS DISTINCT FROM product.price AND NEW.amount IS NOT NULL THEN
					RAISE EXCEPTION 'cannot set column "amount" of relation "invoices" with a public key'
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'An invoice made with a public key costs its product''s price.';
				END IF;
				IF NEW.currency IS DISTINCT FROM product.currency AND NEW.currency IS NOT NULL THEN
					RAISE EXCEPTION 'cannot set column "currency" of relation "invoices" with a public key'
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'An invoice made with a public key is in its product''s currency.';
				END IF;
			END IF;
			NEW.amount := coalesce(NEW.amount, product.price);
			NEW.currency := coalesce(NEW.currency, product.currency);
		END IF;
	ELSIF checked AND caller.key_type = 'pk' THEN
		RAISE EXCEPTION 'column "product_id" of relation "invoices" is required with a public key'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A public key runs in a browser: the buyer must not choose the price.';
	END IF;
	NEW.currency := coalesce(NEW.currency, 'usd');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_invoices_guard() IS
	'trigger: invoices are created open, a caller may only cancel an open one, and a pk key''s invoice costs its product''s price';

DROP TRIGGER invoices_fill_creator ON @extschema@.invoices;
DROP FUNCTION @extschema@.billium_invoices_fill_creator();
CREATE TRIGGER invoices_guard BEFORE INSERT OR UPDATE ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invoices_guard();
CREATE TRIGGER invoices_server_columns BEFORE INSERT OR UPDATE ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns(
		'merchant_id', 'id', 'created_at', 'created_by_key', 'created_by_user');
CREATE TRIGGER products_server_columns BEFORE INSERT OR UPDATE ON @extschema@.products
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER customers_server_columns BEFORE INSERT OR UPDATE ON @extschema@.customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER webhooks_server_columns BEFORE INSERT OR UPDATE ON @extschema@.webhooks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER wallets_server_columns BEFORE INSERT OR UPDATE ON @extschema@.wallets
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER checkout_settings_server_columns BEFORE INSERT OR UPDATE ON @extschema@.checkout_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'updated_at');
CREATE TRIGGER merchant_billing_server_columns BEFORE INSERT OR UPDATE ON @extschema@.merchant_billing
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id');
CREATE TRIGGER team_members_server_columns BEFORE INSERT OR UPDATE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('created_at');

-- The payment side marks an open invoice paid.
CREATE FUNCTION @extschema@.billium_mark_invoice_paid(invoice_id uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE @extschema@.invoices i SET status = 'paid'
	WHERE i.id OPERATOR(pg_catalog.=) invoice_id AND i.status OPERATOR(pg_catalog.=) 'open';
	IF NOT FOUND THEN
		IF EXISTS (SELECT FROM @extschema@.invoices i WHERE i.id OPERATOR(pg_catalog.=) invoice_id) THEN
			RAISE EXCEPTION 'invoice % is not open', invoice_id USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		RAISE EXCEPTION 'invoice % does not exist', invoice_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_mark_invoice_paid(uuid) IS
	'the payment side: mark an open invoice paid (billium_payments only; API keys and sessions never can)';

------------------------------------------------------------------------------------------------
-- Policies from one declared table.  Each row: a policy on a table of the extension, the
-- command, the permission it needs (null: refused), the column holding the merchant, the column
-- holding a pk key's own rows (pk keys then see only those, never the merchant's list), an
-- extra row filter, and the API actions that reach the table through this command (the test
-- gate_rls_agree checks them against billium.actions; billium_postgrest_action maps a request
-- to the first of them, or to the list/retrieve pair of a view policy).  A view policy also lets a caller holding
-- the table's insert permission but not its view permission see the row its own INSERT ...
-- RETURNING is checking (a row not yet stored: no ctid), and nothing else.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.policy_rules (
	tbl name NOT NULL,
	policy name NOT NULL,
	command text NOT NULL CHECK (command IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')),
	permission text CHECK (permission IS NULL OR @extschema@.billium_permset_count(
		@extschema@.billium_permset_from_names(ARRAY[permission])) = 1),
	merchant_column name NOT NULL DEFAULT 'merchant_id',
	own_rows_column name,
	row_filter text,
	actions text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (tbl, policy)
);
COMMENT ON TABLE @extschema@.policy_rules IS
	'every row-level security policy of the extension: (table, command) -> the permission it needs, the merchant column, the pk own-rows column, and the API actions it serves';
GRANT SELECT ON @extschema@.policy_rules TO PUBLIC;

INSERT INTO @extschema@.policy_rules (tbl, policy, command, permission, merchant_column, own_rows_column, row_filter, actions) VALUES
	('merchants', 'merchants_view', 'SELECT', 'merchant:view', 'id', NULL, NULL, '{merchants.retrieve}'),
	('merchants', 'merchants_edit', 'UPDATE', 'merchant:edit', 'id', NULL, NULL, '{merchants.update}'),
	('merchants', 'merchants_delete', 'DELETE', 'merchant:delete', 'id', NULL, NULL, '{merchants.delete}'),
	('merchant_billing', 'merchant_billing_view', 'SELECT', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.retrieve}'),
	('merchant_billing', 'merchant_billing_create', 'INSERT', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('merchant_billing', 'merchant_billing_edit', 'UPDATE', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('merchant_billing', 'merchant_billing_delete', 'DELETE', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('invoices', 'invoices_view', 'SELECT', 'invoice:view', 'merchant_id', 'created_by_key', NULL, '{invoices.retrieve,invoices.list}'),
	('invoices', 'invoices_create', 'INSERT', 'invoice:create', 'merchant_id', NULL, NULL, '{invoices.create}'),
	('invoices', 'invoices_edit', 'UPDATE', 'invoice:edit', 'merchant_id', NULL, NULL, '{invoices.update,invoices.cancel}'),
	('invoices', 'invoices_delete', 'DELETE', 'invoice:delete', 'merchant_id', NULL, NULL, '{invoices.delete}'),
	('products', 'products_view', 'SELECT', 'product:view', 'merchant_id', NULL, NULL, '{products.retrieve,products.list}'),
	('products', 'products_create', 'INSERT', 'product:create', 'merchant_id', NULL, NULL, '{products.create}'),
	('products', 'products_edit', 'UPDATE', 'product:edit', 'merchant_id', NULL, NULL, '{products.update}'),
	('products', 'products_delete', 'DELETE', 'product:delete', 'merchant_id', NULL, NULL, '{products.delete}'),
	-- customer: there is no customer:create; customer:edit creates and edits.
	('customers', 'customers_view', 'SELECT', 'customer:view', 'merchant_id', NULL, NULL, '{customers.retrieve,customers.list}'),
	('customers', 'customers_create', 'INSERT', 'customer:edit', 'merchant_id', NULL, NULL, '{customers.create}'),
	('customers', 'customers_edit', 'UPDATE', 'customer:edit', 'merchant_id', NULL, NULL, '{customers.update}'),
	('customers', 'customers_delete', 'DELETE', 'customer:delete', 'merchant_id', NULL, NULL, '{customers.delete}'),
	('webhooks', 'webhooks_view', 'SELECT', 'webhook:view', 'merchant_id', NULL, NULL, '{webhooks.retrieve,webhooks.list}'),
	('webhooks', 'webhooks_create', 'INSERT', 'webhook:create', 'merchant_id', NULL, NULL, '{webhooks.create}'),
	('webhooks', 'webhooks_edit', 'UPDATE', 'webhook:edit', 'merchant_id', NULL, NULL, '{webhooks.update}'),
	('webhooks', 'webhooks_delete', 'DELETE', 'webhook:delete', 'merchant_id', NULL, NULL, '{webhooks.delete}'),
	-- checkout: view, and edit for every write.
	('checkout_settings', 'checkout_settings_view', 'SELECT', 'checkout:view', 'merchant_id', NULL, NULL, '{checkout.retrieve}'),
	('checkout_settings', 'checkout_settings_create', 'INSERT', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('checkout_settings', 'checkout_settings_edit', 'UPDATE', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('checkout_settings', 'checkout_settings_delete', 'DELETE', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('wallets', 'wallets_view', 'SELECT', 'wallet:view', 'merchant_id', NULL, NULL, '{wallets.retrieve,wallets.list}'),
	('wallets', 'wallets_create', 'INSERT', 'wallet:create', 'merchant_id', NULL, NULL, '{wallets.create}'),
	('wallets', 'wallets_edit', 'UPDATE', 'wallet:edit', 'merchant_id', NULL, NULL, '{wallets.update}'),
	('wallets', 'wallets_delete', 'DELETE', 'wallet:delete', 'merchant_id', NULL, NULL, '{wallets.delete}'),
	('team_members', 'team_members_view', 'SELECT', 'team:view', 'merchant_id', NULL, NULL, '{team.list,team.retrieve}'),
	('team_members', 'team_members_invite', 'INSERT', 'team:invite', 'merchant_id', NULL, NULL, '{team.invite}'),
	('team_members', 'team_members_manage_roles', 'UPDATE', 'team:manage_roles', 'merchant_id', NULL, NULL, '{team.update_role}'),
	('team_members', 'team_members_remove', 'DELETE', 'team:remove', 'merchant_id', NULL, NULL, '{team.remove}'),
	-- api_keys: readable (every column but key_hash); written only by the key functions.
	('api_keys', 'api_keys_view', 'SELECT', 'api_key:view', 'merchant_id', NULL, NULL, '{api_keys.list,api_keys.retrieve}'),
	-- The audit trail: key events need api_key:view, team and security events team:view.
	('audit_log', 'audit_log_view', 'SELECT', 'api_key:view', 'merchant_id', NULL,
	 'category OPERATOR(pg_catalog.=) ''api_key''', '{}'),
	('audit_log', 'audit_log_view_team', 'SELECT', 'team:view', 'merchant_id', NULL,
	 'category OPERATOR(pg_catalog.<>) ''api_key''', '{}');

-- The text of one policy: FOR <command> USING (...) [WITH CHECK (...)].  Every question to
-- billium is wrapped as (SELECT billium_...(...)), an InitPlan run once per statement, and the
-- merchant column stays indexable.  create_permission: for a view policy, the table's insert
-- permission (see above).
CREATE FUNCTION @extschema@.billium_policy_clause(command text, permission text, merchant_column name,
		own_rows_column name DEFAULT NULL, row_filter text DEFAULT NULL, create_permission text DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	qual text;
BEGIN
	IF permission IS NULL THEN
		qual := 'false';
	ELSE
		qual := format('%I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.%s(%L))::pg_catalog.uuid[])',
					   merchant_column,
					   CASE WHEN command = 'SELECT' AND own_rows_column IS NOT NULL
							THEN 'billium_merchants_listing' ELSE 'billium_merchants_with' END,
					   permission);
		-- A view policy with a pk key's own rows or a create-only caller (issue 15).  The common
		-- caller, which sees every row of its merchants, pays for one indexable array and one
		-- boolean, each computed once per statement; the rest runs, per row, only for the others.
		-- The array holds every merchant where the rest can let a row through.
		IF command = 'SELECT' AND (own_rows_column IS NOT NULL OR
								   (create_permission IS NOT NULL AND create_permission <> permission)) THEN
			-- A caller holding the insert permission but not this one sees the row its INSERT ...
			-- RETURNING checks (not yet stored: no ctid), nothing else.  Without own rows, the
			-- array below is exactly billium_merchants_returning.
			IF create_permission IS NOT NULL AND create_permission <> permission THEN
				IF own_rows_column IS NULL THEN
					qual := format('%s OR ctid OPERATOR(pg_catalog.=) ''(4294967295,0)''::pg_catalog.tid', qual);
				ELSE
					qual := format('%I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_returning(%L, %L, %L))::pg_catalog.uuid[])'
								   ' AND (%s OR ctid OPERATOR(pg_catalog.=) ''(4294967295,0)''::pg_catalog.tid)',
								   merchant_column, permission, create_permission, true, qual);
				END IF;
			END IF;
			-- A pk key sees the rows it created, first: it is the one caller here with rows to see.
			IF own_rows_column IS NOT NULL THEN
				qual := format('%I OPERATOR(pg_catalog.=) (SELECT @extschema@.billium_public_key_with(%L)) OR (%s)',
							   own_rows_column, permission, qual);
			END IF;
			qual := format('%1$I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_policy_visible_merchants(%2$L, %3$L, %4$L))::pg_catalog.uuid[])'
						   ' AND ((SELECT @extschema@.billium_policy_visible_whole(%2$L, %3$L, %4$L)) OR (%5$s))',
						   merchant_column, permission, COALESCE(create_permission, permission),
						   own_rows_column IS NOT NULL, qual);
		END IF;
		IF row_filter IS NOT NULL THEN
			qual := format('%s AND (%s)', row_filter, qual);
		END IF;
	END IF;
	RETURN CASE command
		WHEN 'SELECT' THEN format('FOR SELECT USING (%s)', qual)
		WHEN 'INSERT' THEN format('FOR INSERT WITH CHECK (%s)', qual)
		WHEN 'UPDATE' THEN format('FOR UPDATE USING (%s) WITH CHECK (%s)', qual, qual)
		ELSE format('FOR DELETE USING (%s)', qual) END;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_policy_clause(text, text, name, name, text, text) IS
	'internal: the FOR ... USING ... WITH CHECK clause of a billium policy (from billium.policy_rules, or billium_protect_table)';

-- (Re)create every policy of billium.policy_rules.
CREATE FUNCTION @extschema@.billium_apply_policy_rules() RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT pr.*,
					(SELECT i.permission FROM @extschema@.policy_rules i
					 WHERE i.tbl OPERATOR(pg_catalog.=) pr.tbl AND i.command OPERATOR(pg_catalog.=) 'INSERT') AS create_permission
			 FROM @extschema@.policy_rules pr ORDER BY pr.tbl, pr.policy LOOP
		EXECUTE format('DROP POLICY IF EXISTS %I ON @extschema@.%I', r.policy, r.tbl);
		EXECUTE format('CREATE POLICY %I ON @extschema@.%I %s', r.policy, r.tbl,
					   @extschema@.billium_policy_clause(r.command, r.permission, r.merchant_column,
														 r.own_rows_column, r.row_filter, r.create_permission));
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_apply_policy_rules() IS
	'internal: create every policy of billium.policy_rules (the install and upgrade scripts call it)';

CREATE FUNCTION @extschema@.billium_merchants_returning(view_permission text, create_permission text,
		listing boolean) RETURNS uuid[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_returning(text, text, boolean) IS
	'the merchants where this transaction''s caller holds the view permission (none for a pk key when listing) and those where it holds the create permission but not the view permission (for view policies: a create-only caller sees the row its INSERT ... RETURNING checks)';

-- For view policies with a pk key's own rows or create-only callers (billium_policy_clause): the
-- merchants where any row may pass, to index on, and whether every row of them passes, so the
-- common caller skips the rest of the policy (issue 15).
CREATE FUNCTION @extschema@.billium_policy_visible_merchants(view_permission text, create_permission text,
		own_rows boolean) RETURNS uuid[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_policy_visible_merchants(text, text, boolean) IS
	'for view policies: every merchant where this transaction''s caller may see a row (holds the view permission, none for a pk key with own rows; holds the create permission but not the view permission; a pk key''s own merchant when own rows)';
CREATE FUNCTION @extschema@.billium_policy_visible_whole(view_permission text, create_permission text,
		own_rows boolean) RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_policy_visible_whole(text, text, boolean) IS
	'for view policies: true when this transaction''s caller sees every row of billium_policy_visible_merchants (no create-only merchant, not a pk key limited to its own rows)';

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

-- A user's own table: the same policies, written by the same function.
CREATE OR REPLACE FUNCTION @extschema@.billium_protect_table(tbl regclass, domain text,
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

-- Tables protected before 0.6.0: their view policy gains the create-only rule, as a table
-- protected now (the other three policies are written the same way as before).  The merchant
-- column is the one the old view policy depends on; its note is kept.
DO $$
DECLARE
	p record;
	col name;
	domain text;
BEGIN
	FOR p IN SELECT pol.oid, pol.polname, n.nspname, c.relname, d.description
			 FROM pg_catalog.pg_policy pol
			 JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pol.polrelid
			 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
			 JOIN pg_catalog.pg_description d ON d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
											 AND d.objoid OPERATOR(pg_catalog.=) pol.oid
			 WHERE pol.polname::text LIKE 'billium\_%\_view'
			   AND d.description LIKE 'added by billium_protect_table:%' LOOP
		SELECT a.attname INTO col
		FROM pg_catalog.pg_depend dep
		JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) dep.refobjid
									  AND a.attnum OPERATOR(pg_catalog.=) dep.refobjsubid
		WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
		  AND dep.objid OPERATOR(pg_catalog.=) p.oid AND dep.refobjsubid OPERATOR(pg_catalog.>) 0
		LIMIT 1;
		domain := pg_catalog.substring(p.polname::text, '^billium_(.*)_view$');
		CONTINUE WHEN col IS NULL OR domain IS NULL;
		EXECUTE format('DROP POLICY %I ON %I.%I', p.polname, p.nspname, p.relname);
		EXECUTE format('CREATE POLICY %I ON %I.%I %s', p.polname, p.nspname, p.relname,
					   @extschema@.billium_policy_clause('SELECT', @extschema@.billium_domain_permission(domain, 'view'),
														 col, NULL, NULL, @extschema@.billium_domain_permission(domain, 'create')));
		EXECUTE format('COMMENT ON POLICY %I ON %I.%I IS %L', p.polname, p.nspname, p.relname, p.description);
	END LOOP;
END
$$;

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

SELECT @extschema@.billium_apply_policy_rules();

REVOKE ALL ON FUNCTION
	@extschema@.billium_caller_write(@extschema@.billium_principal),
	@extschema@.billium_server_columns(),
	@extschema@.billium_invoice_product(uuid, uuid),
	@extschema@.billium_invoices_guard(),
	@extschema@.billium_mark_invoice_paid(uuid),
	@extschema@.billium_policy_clause(text, text, name, name, text, text),
	@extschema@.billium_apply_policy_rules(),
	@extschema@.billium_merchants_returning(text, text, boolean),
	@extschema@.billium_policy_visible_merchants(text, text, boolean),
	@extschema@.billium_policy_visible_whole(text, text, boolean),
	@extschema@.billium_domain_permission(text, text),
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request()
FROM PUBLIC;
-- The triggers run as the writer, so the writer needs what they call.
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_caller_write(@extschema@.billium_principal),
	@extschema@.billium_invoice_product(uuid, uuid),
	@extschema@.billium_merchants_returning(text, text, boolean),
	@extschema@.billium_policy_visible_merchants(text, text, boolean),
	@extschema@.billium_policy_visible_whole(text, text, boolean),
	@extschema@.billium_policy_clause(text, text, name, name, text, text),
	@extschema@.billium_domain_permission(text, text),
	@extschema@.billium_postgrest_action(text, text, jsonb),
	@extschema@.billium_postgrest_pre_request()
TO billium_api, billium_admin;
GRANT EXECUTE ON FUNCTION @extschema@.billium_mark_invoice_paid(uuid) TO billium_payments;

-- ---------------------------------------------------------------------------------------------
-- Logical replication (issue 12, item 5; issue 15, regional verification): regional nodes
-- subscribed to merchants, users, team_members and api_keys
-- ---------------------------------------------------------------------------------------------

-- A subscriber's apply worker runs with session_replication_role = replica: it fires no statement
-- trigger for the rows it applies, and no row trigger unless enabled REPLICA or ALWAYS.  These row
-- triggers are enabled REPLICA, so they fire there (and in a superuser's replica-mode session),
-- never in an ordinary session, where the *_invalidate_cache triggers already do the work: every
-- backend of the subscriber forgets what an applied change makes stale.  An applied TRUNCATE fires
-- the *_invalidate_truncate triggers, enabled ALWAYS.  The audit, creator-fill and guard
-- triggers stay enabled ORIGIN: they ran on the origin, and the applied rows carry their result.
CREATE TRIGGER api_keys_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.api_keys ENABLE REPLICA TRIGGER api_keys_invalidate_applied;
CREATE TRIGGER team_members_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.team_members ENABLE REPLICA TRIGGER team_members_invalidate_applied;
CREATE TRIGGER merchants_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.merchants ENABLE REPLICA TRIGGER merchants_invalidate_applied;
CREATE TRIGGER users_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.users
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.users ENABLE REPLICA TRIGGER users_invalidate_applied;

-- On a node where a subscription feeds one of these tables, only the subscription writes it: a
-- key, member or grant made there would be unknown to the origin, beyond its revocations, and
-- would break the subscription at the first conflicting row.  Enabled ORIGIN, so the apply worker
-- passes; SECURITY DEFINER because pg_subscription_rel is readable by superusers only.
CREATE FUNCTION @extschema@.billium_origin_only() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subscription name;
BEGIN
	SELECT s.subname INTO subscription
	  FROM pg_catalog.pg_subscription_rel r
	  JOIN pg_catalog.pg_subscription s ON s.oid OPERATOR(pg_catalog.=) r.srsubid
	 WHERE r.srrelid OPERATOR(pg_catalog.=) TG_RELID
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot write %.% on this node: subscription "%" replicates it from the origin',
			TG_TABLE_SCHEMA, TG_TABLE_NAME, subscription
			USING ERRCODE = 'read_only_sql_transaction',
				DETAIL = 'Keys, teams, users and merchants are managed on the origin; this node verifies keys and serves reads.',
				HINT = 'Make the change on the origin: it reaches this node once the subscription has applied it.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_origin_only() IS
	'trigger: refuses writes to a table that a logical-replication subscription feeds on this node';
REVOKE ALL ON FUNCTION @extschema@.billium_origin_only() FROM PUBLIC;
CREATE TRIGGER api_keys_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER team_members_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.team_members
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER merchants_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.merchants
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER users_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();

------------------------------------------------------------------------------------------------
-- The REST surface (issue 14).
------------------------------------------------------------------------------------------------

-- An action's rule is one permission, or one team role: transferring ownership is the OWNER's
-- alone (the spec), whatever permissions anyone else holds.  A key holds no role, so an action
-- ruled by a role is a dashboard session's only.
ALTER TABLE @extschema@.actions ALTER COLUMN permission DROP NOT NULL,
	DROP CONSTRAINT actions_permission_check,
	ADD CONSTRAINT actions_permission_check CHECK (permission IS NULL
		OR @extschema@.billium_permset_count(@extschema@.billium_permset_from_names(ARRAY[permission])) = 1);
ALTER TABLE @extschema@.actions ADD COLUMN role text
	CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER'));
ALTER TABLE @extschema@.actions ADD CONSTRAINT actions_one_rule
	CHECK ((permission IS NULL) <> (role IS NULL));
COMMENT ON COLUMN @extschema@.actions.role IS
	'when set (and permission null): only a team member with exactly this role may call the action, in a dashboard session';
INSERT INTO @extschema@.actions (name, permission, role, secret_only, builtin)
VALUES ('team.transfer_ownership', NULL, 'OWNER', true, true);

-- The transfer asks the gate, whose rule for it is now the role.
CREATE OR REPLACE FUNCTION @extschema@.billium_transfer_ownership(merchant_id uuid, new_owner uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	target @extschema@.team_members;
BEGIN
	-- No principal, or a key (which holds no role): the gate refuses at once, naming the rule.
	IF caller.kind IS DISTINCT FROM 'user' THEN
		PERFORM @extschema@.billium_authorize('team.transfer_ownership', billium_transfer_ownership.merchant_id);
	END IF;
	-- Lock the team's rows, then ask the gate (the catalog's rule: the OWNER role): two transfers
	-- of one merchant take turns, and the second is judged on what the first committed.
	PERFORM FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id FOR UPDATE;
	PERFORM @extschema@.billium_authorize('team.transfer_ownership', billium_transfer_ownership.merchant_id);
	IF NOT @extschema@.billium_is_owner(billium_transfer_ownership.merchant_id) THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'team.transfer_ownership',
			jsonb_build_object('reason', 'only the OWNER, in a dashboard session, may transfer ownership'));
	END IF;
	SELECT * INTO target FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) new_owner;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % is not on the team of merchant %', new_owner, billium_transfer_ownership.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF target.role = 'OWNER' THEN
		RAISE EXCEPTION 'user % is already the OWNER of merchant %', new_owner, billium_transfer_ownership.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The old OWNER becomes an ADMIN (with the ADMIN's full grant); then the new one takes over.
	UPDATE @extschema@.team_members tm SET role = 'ADMIN'
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) caller.user_id;
	UPDATE @extschema@.team_members tm
	SET role = 'OWNER', permissions = @extschema@.billium_role_cap('OWNER')
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) new_owner;
	PERFORM @extschema@.billium_audit(billium_transfer_ownership.merchant_id, 'team', 'team.transfer_ownership',
		jsonb_build_object('owner', caller.user_id), jsonb_build_object('owner', new_owner));
END
$$;

-- The HTTP request a change came from: the gateway sets billium.request_id (its x-request-id)
-- for the transaction, and every audit row of that transaction carries it.
ALTER TABLE @extschema@.audit_log ADD COLUMN request_id text;
COMMENT ON COLUMN @extschema@.audit_log.request_id IS
	'the billium.request_id of the transaction that wrote the row (the gateway''s x-request-id), or null';

-- billium.request_id when the current transaction set it (else null): a value an earlier
-- transaction left on the connection (a session-level SET behind a pooler) names another
-- client's request, and is not written into this one's audit rows.
CREATE FUNCTION @extschema@.billium_request_id() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_request_id() IS
	'internal: billium.request_id when this transaction set it, else null (what billium_audit records)';
REVOKE ALL ON FUNCTION @extschema@.billium_request_id() FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.billium_audit(merchant_id uuid, category text, action text,
		before jsonb, after jsonb) RETURNS void
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO @extschema@.audit_log (merchant_id, category, action, principal_kind, user_id, key_id,
									   before, after, request_id)
	SELECT billium_audit.merchant_id, billium_audit.category, billium_audit.action, p.kind,
		   p.user_id, p.key_id, billium_audit.before, billium_audit.after,
		   @extschema@.billium_request_id()
	FROM (SELECT (@extschema@.billium_current_principal()).*) AS p
	-- A restore (pg_dump's scripts SET row_security = off) reloads the tables with no principal:
	-- their rows are not new changes, and the trail is restored as it was.
	WHERE p.kind IS NOT NULL
	   OR pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off'
$$;

-- The bucket this transaction's key was charged to, for the RateLimit header fields: no
-- permission needed (a key learns only its own merchant's bucket, or its own); no row when the
-- caller is not a key or nothing limits it.  Called first in a request, it verifies and charges
-- the key, so that a 401 or 429 names the request's action.
CREATE FUNCTION @extschema@.billium_rate_limit_current(action text DEFAULT NULL,
		OUT quota integer, OUT window_seconds integer, OUT remaining integer, OUT reset_seconds integer)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;
COMMENT ON FUNCTION @extschema@.billium_rate_limit_current(text) IS
	'the rate-limit bucket this transaction''s API key draws from: quota (the burst), the window it refills in, the requests remaining and the seconds until it is full again; no row for a session or when not limited';
REVOKE ALL ON FUNCTION @extschema@.billium_rate_limit_current(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_rate_limit_current(text) TO billium_api;

-- A gateway routing .../merchant/{m}/api-keys/{id} checks that the key is that merchant's before it
-- changes it.  The function answers only for a key whose merchant the caller holds a permission
-- on (else null), which the key management functions reveal already.
GRANT EXECUTE ON FUNCTION @extschema@.billium_key_merchant(uuid) TO billium_api;

-- Reports: the ids a caller may retrieve; each is a view of the schema (report:view).
CREATE FUNCTION @extschema@.billium_report_catalog(OUT id text, OUT title text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	VALUES ('invoice_totals', 'Invoices: count and sum of amounts per currency and status')
$$;
COMMENT ON FUNCTION @extschema@.billium_report_catalog() IS
	'the reports the API serves (id, title); invoice_totals reads the reports view';
REVOKE ALL ON FUNCTION @extschema@.billium_report_catalog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_report_catalog() TO billium_api;

-- Provisioning: the application's sign-up and account settings create users and record the
-- factors they have enabled.  Not the API's (billium_api may not), not test fixtures: the role
-- billium_provisioner is granted to the login the sign-up service uses, and nothing else.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_provisioner') THEN
		CREATE ROLE billium_provisioner NOLOGIN;
	END IF;
END
$$;

CREATE FUNCTION @extschema@.billium_provision_user(email text) RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	created uuid;
BEGIN
	IF email IS NULL OR pg_catalog.length(email) NOT BETWEEN 3 AND 320
	   OR email OPERATOR(pg_catalog.!~) '^[^@\s]+@[^@\s]+$' THEN
		RAISE EXCEPTION 'not an email address' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'An email address has one @ between non-empty parts, without spaces, in at most 320 characters.';
	END IF;
	INSERT INTO @extschema@.users AS u (email) VALUES (pg_catalog.lower(billium_provision_user.email))
	ON CONFLICT DO NOTHING RETURNING u.id INTO created;
	IF created IS NULL THEN
		RAISE EXCEPTION 'a user with this email exists' USING ERRCODE = 'unique_violation';
	END IF;
	RETURN created;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_provision_user(text) IS
	'sign-up: create a dashboard user (email stored lower-case; an existing email is refused) and return its id (billium_provisioner)';

-- A null argument leaves that factor as it is.
CREATE FUNCTION @extschema@.billium_provision_user_factors(user_id uuid, tfa boolean DEFAULT NULL,
		passkey boolean DEFAULT NULL, google_login boolean DEFAULT NULL,
		github_login boolean DEFAULT NULL, email_verified boolean DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE @extschema@.users u
	SET tfa_enabled = coalesce(tfa, u.tfa_enabled),
		passkey_enabled = coalesce(passkey, u.passkey_enabled),
		google_linked = coalesce(google_login, u.google_linked),
		github_linked = coalesce(github_login, u.github_linked),
		email_verified = coalesce(billium_provision_user_factors.email_verified, u.email_verified)
	WHERE u.id OPERATOR(pg_catalog.=) billium_provision_user_factors.user_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such user' USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_provision_user_factors(uuid, boolean, boolean, boolean, boolean, boolean) IS
	'account settings: record which factors a user has enabled (two-factor, passkey, Google, GitHub, verified email); null leaves one as it is (billium_provisioner)';

REVOKE ALL ON FUNCTION @extschema@.billium_provision_user(text),
	@extschema@.billium_provision_user_factors(uuid, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_provision_user(text),
	@extschema@.billium_provision_user_factors(uuid, boolean, boolean, boolean, boolean, boolean)
TO billium_provisioner;
GRANT USAGE ON SCHEMA @extschema@ TO billium_provisioner;

-- The security factors written once (issue 13, C seams): src/factors.c declares each factor
-- (the envelope's name, the users column, the merchants column); the C queries and the envelope
-- are derived from it, and the SQL reads it through billium.security_factors.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_factor_catalog(
		OUT "bit" integer, OUT name text, OUT user_column text, OUT enforce_column text)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
CREATE VIEW @extschema@.security_factors AS
	SELECT "bit", name, user_column, enforce_column FROM @extschema@.billium_factor_catalog();
COMMENT ON VIEW @extschema@.security_factors IS
	'the security factors a merchant may require: the envelope''s name, the users column, the merchants column';
GRANT SELECT ON @extschema@.security_factors TO PUBLIC;

CREATE FUNCTION @extschema@.billium_security_flags(merchant @extschema@.merchants) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_object_agg(f.enforce_column,
									   pg_catalog.to_jsonb(merchant) OPERATOR(pg_catalog.->) f.enforce_column)
	  FROM @extschema@.security_factors f
$$;
COMMENT ON FUNCTION @extschema@.billium_security_flags(@extschema@.merchants) IS
	'internal: the merchant''s enforce_* flags as a jsonb object, the columns named by billium.security_factors';
REVOKE ALL ON FUNCTION @extschema@.billium_security_flags(@extschema@.merchants) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_security_flags(@extschema@.merchants) TO billium_api;

CREATE OR REPLACE FUNCTION @extschema@.billium_merchants_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF @extschema@.billium_security_flags(NEW) OPERATOR(pg_catalog.<>) @extschema@.billium_security_flags(OLD)
	   AND NOT @extschema@.billium_internal_write()
	   AND NOT @extschema@.billium_is_owner(OLD.id) THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'merchants.update',
			jsonb_build_object('reason', 'only the merchant''s OWNER, in a dashboard session, may change its security requirements'));
	END IF;
	IF NEW.id IS DISTINCT FROM OLD.id AND NOT @extschema@.billium_internal_write() THEN
		RAISE EXCEPTION 'a merchant''s id cannot change' USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.billium_merchants_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	before jsonb := @extschema@.billium_security_flags(OLD);
	after jsonb := @extschema@.billium_security_flags(NEW);
BEGIN
	IF before OPERATOR(pg_catalog.<>) after THEN
		PERFORM @extschema@.billium_audit(NEW.id, 'security', 'merchants.update_security', before, after);
	END IF;
	RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- The gate in one call (issue 13, C seams): billium_authenticate and billium_authorize together,
-- for a backend that sends the gate as a statement of its own.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_gate(api_key text, action text, merchant_id uuid DEFAULT NULL)
	RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_gate(text, text, uuid) IS
	'billium_authenticate and billium_authorize in one call: the key''s principal if it may perform the action on the merchant, else the 401/403/429 envelope';
REVOKE ALL ON FUNCTION @extschema@.billium_gate(text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_gate(text, text, uuid) TO billium_api;

-- Key usage (issue 15): each key's last use and request count, counted in shared memory and
-- written in batches by the usage worker into key_usage; no request writes a row.
------------------------------------------------------------------------------------------------


CREATE TABLE @extschema@.key_usage (
	-- No foreign keys: the worker's write would lock the key rows it names.  Rows of deleted keys
	-- go with them (api_keys_forget_usage); the listing joins api_keys.
	key_id uuid PRIMARY KEY,
	merchant_id uuid NOT NULL,
	last_used_at timestamptz NOT NULL,
	request_count bigint NOT NULL CHECK (request_count OPERATOR(pg_catalog.>=) 0)
);
CREATE INDEX key_usage_merchant_id ON @extschema@.key_usage (merchant_id);
COMMENT ON TABLE @extschema@.key_usage IS
	'each key''s last use and request count, written only by billium''s usage worker; up to billium.usage_flush_interval behind';
COMMENT ON COLUMN @extschema@.key_usage.last_used_at IS
	'the start of the latest transaction that verified the key, as of the last flush';
COMMENT ON COLUMN @extschema@.key_usage.request_count IS
	'transactions that verified the key since tracking began (each counts once, whatever it then did)';

ALTER TABLE @extschema@.key_usage ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
-- Readable as api_keys is: with api_key:view on the key's merchant.  One more row of the
-- extension's policy table (policies.sql), applied once the table exists.
INSERT INTO @extschema@.policy_rules (tbl, policy, command, permission, merchant_column, own_rows_column, row_filter, actions) VALUES
	('key_usage', 'key_usage_view', 'SELECT', 'api_key:view', 'merchant_id', NULL, NULL, '{}');
SELECT @extschema@.billium_apply_policy_rules();
GRANT SELECT ON @extschema@.key_usage TO billium_api;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.key_usage', '');

CREATE FUNCTION @extschema@.billium_forget_key_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.key_usage u
	WHERE u.key_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT o.id FROM forgotten o));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_forget_key_usage() IS
	'trigger: a deleted key''s usage goes with it';
REVOKE ALL ON FUNCTION @extschema@.billium_forget_key_usage() FROM PUBLIC;
CREATE TRIGGER api_keys_forget_usage AFTER DELETE ON @extschema@.api_keys
	REFERENCING OLD TABLE AS forgotten
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_forget_key_usage();

-- The keys' listing with their usage, under the caller's own row-level security (api_key:view).
CREATE FUNCTION @extschema@.billium_key_usage(merchant_id uuid DEFAULT NULL)
RETURNS TABLE (key_id uuid, merchant_id uuid, key_type text, name text, hint text,
			   created_at timestamptz, expires_at timestamptz, revoked_at timestamptz,
			   last_used_at timestamptz, request_count bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.id, k.merchant_id, k.key_type, k.name, k.hint, k.created_at, k.expires_at,
		   k.revoked_at, u.last_used_at, u.request_count
	FROM @extschema@.api_keys k
	LEFT JOIN @extschema@.key_usage u ON u.key_id OPERATOR(pg_catalog.=) k.id
	WHERE $1 IS NULL OR k.merchant_id OPERATOR(pg_catalog.=) $1
	ORDER BY k.created_at, k.id
$$;
COMMENT ON FUNCTION @extschema@.billium_key_usage(uuid) IS
	'the keys the caller may view (api_key:view) with when each was last used and how often; null when never used since tracking began, or not tracked';
REVOKE ALL ON FUNCTION @extschema@.billium_key_usage(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_key_usage(uuid) TO billium_api;

CREATE FUNCTION @extschema@.billium_key_usage_status(
	OUT tracking boolean, OUT reason text, OUT usage_database text, OUT flush_interval_s integer,
	OUT pending_keys integer, OUT max_keys integer, OUT uncounted_requests bigint,
	OUT last_flush_at timestamptz)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_key_usage_status() IS
	'key usage tracking: whether this database''s verifications are counted and why, the worker''s database and interval, keys counted since the last flush, the table''s size, requests left uncounted because it was full, and the last flush';
REVOKE ALL ON FUNCTION @extschema@.billium_key_usage_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_key_usage_status() TO billium_api;

-- ---------------------------------------------------------------------------------------------
-- Caches (issue 15: targeted invalidation, eviction, the shared key cache; issue 13: one
-- invalidation for the three caches)
-- ---------------------------------------------------------------------------------------------

COMMENT ON FUNCTION @extschema@.billium_invalidate_cache() IS
	'trigger: makes stale, at commit, what billium''s caches hold for the merchants and users of the rows written (per row; everything for TRUNCATE; per statement on actions)';
DROP TRIGGER api_keys_invalidate_cache ON @extschema@.api_keys;
DROP TRIGGER team_members_invalidate_cache ON @extschema@.team_members;
DROP TRIGGER merchants_invalidate_cache ON @extschema@.merchants;
DROP TRIGGER users_invalidate_cache ON @extschema@.users;
-- Verified keys, users' merchants and merchants' rate limits are cached (per backend, and keys in
-- shared memory when billium is preloaded: src/cache.c).  A write makes stale only what depends on
-- the merchants and users of its rows: a key depends on its merchant's keys and team, a user's
-- merchants on the user's team rows and factors and on the merchants' requirements.  Per row, so
-- the trigger knows which; TRUNCATE (enabled ALWAYS, as an applied one fires in replica mode too)
-- makes everything stale.  Updates of users count only when a factor changes.
CREATE TRIGGER api_keys_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER team_members_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER merchants_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER users_invalidate_cache
	AFTER UPDATE OF id, tfa_enabled, passkey_enabled, google_linked, github_linked, email_verified
	ON @extschema@.users FOR EACH ROW
	WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tfa_enabled IS DISTINCT FROM NEW.tfa_enabled
		  OR OLD.passkey_enabled IS DISTINCT FROM NEW.passkey_enabled
		  OR OLD.google_linked IS DISTINCT FROM NEW.google_linked
		  OR OLD.github_linked IS DISTINCT FROM NEW.github_linked
		  OR OLD.email_verified IS DISTINCT FROM NEW.email_verified)
	EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER users_invalidate_cache_delete
	AFTER DELETE ON @extschema@.users
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER api_keys_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.api_keys ENABLE ALWAYS TRIGGER api_keys_invalidate_truncate;
CREATE TRIGGER team_members_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.team_members
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.team_members ENABLE ALWAYS TRIGGER team_members_invalidate_truncate;
CREATE TRIGGER merchants_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.merchants
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.merchants ENABLE ALWAYS TRIGGER merchants_invalidate_truncate;
CREATE TRIGGER users_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.users ENABLE ALWAYS TRIGGER users_invalidate_truncate;

-- The caches' statistics: the verified-key cache (shared by every backend when billium is
-- preloaded, else this backend's), and this backend's own caches.  Counts only, no keys.
CREATE FUNCTION @extschema@.billium_cache_stats(
		OUT scope text, OUT capacity bigint, OUT entries bigint, OUT hits bigint, OUT misses bigint,
		OUT evictions bigint, OUT stale bigint)
	RETURNS record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.billium_cache_stats() IS
	'the verified-key cache: shared or backend, its capacity, entries, hits, misses, evictions and stale entries refused';
CREATE FUNCTION @extschema@.billium_local_cache_stats(
		OUT cache text, OUT capacity bigint, OUT entries bigint, OUT hits bigint, OUT misses bigint,
		OUT evictions bigint, OUT stale bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT ROWS 3;
COMMENT ON FUNCTION @extschema@.billium_local_cache_stats() IS
	'this backend''s caches (keys, teams, rates): capacity, entries, hits, misses, evictions and stale entries refused';
REVOKE ALL ON FUNCTION @extschema@.billium_cache_stats(), @extschema@.billium_local_cache_stats()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_cache_stats(), @extschema@.billium_local_cache_stats()
TO billium_admin, pg_monitor;

