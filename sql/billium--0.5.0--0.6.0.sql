/*
 * billium 0.5.0 -> 0.6.0: the escalations found in review closed (issue 12).
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit

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

-- The audit trail shows who rolled a replacement (its create row), and nothing new otherwise.
CREATE OR REPLACE FUNCTION @extschema@.billium_audit_key(k @extschema@.api_keys) RETURNS jsonb
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', k.id, 'key_type', k.key_type, 'name', k.name, 'hint', k.hint,
		'permissions', @extschema@.billium_permset_names(k.permissions),
		'created_by', k.created_by, 'created_by_key', k.created_by_key,
		'expires_at', k.expires_at, 'revoked_at', k.revoked_at)
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

-- The key and every key minted from it, down the chain.  Internal.
CREATE FUNCTION @extschema@.billium_key_descendants(key_id uuid) RETURNS SETOF uuid
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE tree (id, path) AS (
		SELECT k.id, ARRAY[k.id] FROM @extschema@.api_keys k
		WHERE k.id OPERATOR(pg_catalog.=) billium_key_descendants.key_id
		UNION ALL
		SELECT c.id, t.path OPERATOR(pg_catalog.||) c.id
		FROM tree t JOIN @extschema@.api_keys c ON c.created_by_key OPERATOR(pg_catalog.=) t.id
		WHERE NOT c.id OPERATOR(pg_catalog.=) ANY (t.path))
	SELECT t.id FROM tree t
$$;
COMMENT ON FUNCTION @extschema@.billium_key_descendants(uuid) IS
	'internal: the key and every key minted from it, at any depth';

REVOKE ALL ON FUNCTION @extschema@.billium_key_lineage(uuid), @extschema@.billium_key_descendants(uuid)
	FROM PUBLIC;

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
	revoked bigint;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.revoke', merchant);
	-- The key and its descendants.  Each pass runs on a fresh snapshot: a child being created
	-- holds its parent locked (billium_create_api_key), so this pass waits for it to commit and
	-- the next one finds and revokes it.  Done when a pass finds nothing left to revoke.
	LOOP
		UPDATE @extschema@.api_keys k SET revoked_at = now()
		WHERE k.id IN (SELECT d FROM @extschema@.billium_key_descendants(key_id) AS d)
		  AND k.revoked_at IS NULL;
		GET DIAGNOSTICS revoked = ROW_COUNT;
		EXIT WHEN revoked OPERATOR(pg_catalog.=) 0;
	END LOOP;
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
