/* billium: API keys: generating and verifying them, managing them through the gate, and revoking
 * them when a secret scanner reports them leaked. */

------------------------------------------------------------------------------------------------
-- Keys.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_key_generate(key_type text) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_key_generate(text) IS
	'a new random key of the type (sk or pk): prefix, 90 random base62 characters, 6 of checksum';

CREATE FUNCTION @extschema@.billium_key_is_well_formed(api_key text) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_key_is_well_formed(text) IS
	'does the text have a key''s prefix, length, alphabet and checksum? (no table is read)';

CREATE FUNCTION @extschema@.billium_key_verify(api_key text) RETURNS @extschema@.billium_key_principal
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_key_verify(text) IS
	'the key''s merchant, type, creator and effective permissions; raises the 401 envelope for a bad key';

------------------------------------------------------------------------------------------------
-- Key management.  SECURITY DEFINER with a pinned search_path: they read and write the key
-- tables for callers who may not, after asking the gate.
------------------------------------------------------------------------------------------------

-- A key's grant must lie within the caller's own permissions on the merchant and within its
-- type's cap; otherwise 403 PERMISSION_DENIED naming the excess.  Internal.
CREATE FUNCTION @extschema@.billium_check_key_grant(merchant_id uuid, key_type text,
		permissions @extschema@.billium_permset, action text) RETURNS void
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	excess @extschema@.billium_permset;
BEGIN
	excess := permissions OPERATOR(@extschema@.-) @extschema@.billium_principal_permissions(merchant_id);
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'the requested permissions exceed the caller''s own'));
	END IF;
	excess := permissions OPERATOR(@extschema@.-) @extschema@.billium_key_type_cap(key_type);
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'a public key holds at most invoice:create, invoice:view and product:view'));
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_check_key_grant(uuid, text, @extschema@.billium_permset, text) IS
	'internal: refuse a key grant beyond the caller''s own permissions or the key type''s cap';

-- A grant must view each domain it writes in (issue 12, decision 3): a grant, a key's or a team
-- member's, holding a permission of a domain other than its view and its create-like ones
-- (*:create, team:invite) must also hold the domain's view.  Keys are checked here, team grants
-- by billium_team_members_guard.
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

CREATE FUNCTION @extschema@.billium_create_api_key(
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

CREATE FUNCTION @extschema@.billium_key_merchant(key_id uuid) RETURNS uuid
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	-- Another merchant's key looks exactly like one that does not exist: no tell of its existence.
	SELECT k.merchant_id FROM @extschema@.api_keys k
	WHERE k.id OPERATOR(pg_catalog.=) key_id
	  AND @extschema@.billium_principal_permissions(k.merchant_id) OPERATOR(@extschema@.<>) '{}'
$$;
COMMENT ON FUNCTION @extschema@.billium_key_merchant(uuid) IS
	'internal: the merchant of a key the caller has any permission on (else null), so management functions can ask the gate first';

CREATE FUNCTION @extschema@.billium_revoke_api_key(key_id uuid) RETURNS void
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

CREATE FUNCTION @extschema@.billium_update_api_key(
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

CREATE FUNCTION @extschema@.billium_roll_api_key(key_id uuid, grace interval DEFAULT '0',
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

CREATE FUNCTION @extschema@.billium_explain_key(key_id uuid)
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

------------------------------------------------------------------------------------------------
-- Leaked keys (issue 17).  A secret scanner (GitHub's secret scanning partner program, through
-- the reference gateway) reports tokens it found in public; billium_report_leaked_keys checks
-- each one's checksum offline, looks up only the well-formed ones, and revokes a leaked sk key
-- at once, recording when and where it was found on the key and in the audit trail (never the
-- token).  A pk key is public by design: its sighting is audited, nothing is revoked.  Only
-- billium_scanner may call it, and billium_scanner holds nothing else.
------------------------------------------------------------------------------------------------

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

REVOKE ALL ON FUNCTION
	@extschema@.billium_key_generate(text),
	@extschema@.billium_key_is_well_formed(text),
	@extschema@.billium_key_verify(text),
	@extschema@.billium_check_key_grant(uuid, text, @extschema@.billium_permset, text),
	@extschema@.billium_key_merchant(uuid),
	@extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz),
	@extschema@.billium_revoke_api_key(uuid),
	@extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text),
	@extschema@.billium_roll_api_key(uuid, interval),
	@extschema@.billium_explain_key(uuid)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_key_is_well_formed(text),
	@extschema@.billium_key_verify(text),
	@extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz),
	@extschema@.billium_revoke_api_key(uuid),
	@extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text),
	@extschema@.billium_roll_api_key(uuid, interval),
	@extschema@.billium_explain_key(uuid)
TO billium_api;

-- A gateway routing .../merchant/{m}/api-keys/{id} checks that the key is that merchant's before it
-- changes it.  The function answers only for a key whose merchant the caller holds a permission
-- on (else null), which the key management functions reveal already.
GRANT EXECUTE ON FUNCTION @extschema@.billium_key_merchant(uuid) TO billium_api;
