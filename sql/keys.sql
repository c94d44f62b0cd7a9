/* billium: API keys: generating and verifying them, and managing them through the gate. */

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

CREATE FUNCTION @extschema@.billium_create_api_key(
		merchant_id uuid, key_type text, permissions @extschema@.billium_permset, name text,
		expires_at timestamptz DEFAULT NULL, OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal;
BEGIN
	caller := @extschema@.billium_authorize('api_keys.create', merchant_id);
	key_type := lower(key_type);
	PERFORM @extschema@.billium_check_key_grant(merchant_id, key_type, permissions, 'api_keys.create');
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
	'create a key (needs api_key:create); the only time its plaintext exists';

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
	UPDATE @extschema@.api_keys SET revoked_at = coalesce(revoked_at, now())
	WHERE id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_revoke_api_key(uuid) IS
	'revoke a key (needs api_key:delete); every transaction after the commit refuses it';

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
	END IF;
	UPDATE @extschema@.api_keys AS k
	SET permissions = coalesce(billium_update_api_key.permissions, k.permissions),
		name = coalesce(billium_update_api_key.name, k.name)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text) IS
	'change a key''s permissions or name (needs api_key:edit; the same caps as creating)';

CREATE FUNCTION @extschema@.billium_roll_api_key(key_id uuid, grace interval DEFAULT '0',
		OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	caller @extschema@.billium_principal;
	old @extschema@.api_keys;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	caller := @extschema@.billium_authorize('api_keys.roll', merchant);
	SELECT * INTO old FROM @extschema@.api_keys k WHERE k.id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
	IF NOT FOUND OR old.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'the API key does not exist or is revoked' USING ERRCODE = 'no_data_found';
	END IF;
	IF grace < '0' THEN
		RAISE EXCEPTION 'grace period must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	api_key := @extschema@.billium_key_generate(old.key_type);
	-- The replacement keeps the grant, name, creator and expiry of the key it replaces.
	INSERT INTO @extschema@.api_keys AS k (merchant_id, key_type, name, hint, key_hash, permissions,
										   created_by, created_by_key, expires_at)
	VALUES (old.merchant_id, old.key_type, old.name, substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), old.permissions, old.created_by, caller.key_id,
			old.expires_at)
	RETURNING k.id INTO id;
	UPDATE @extschema@.api_keys k
	SET expires_at = least(coalesce(k.expires_at, 'infinity'), now() + grace)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_roll_api_key(uuid, interval) IS
	'issue a replacement with the same grant and expire the old key after the grace period (needs api_key:edit)';

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
	name := CASE WHEN k.revoked_at IS NOT NULL THEN 'effective (revoked: refused)'
				 WHEN k.expires_at <= now() THEN 'effective (expired: refused)'
				 ELSE 'effective' END;
	permissions := acc;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_explain_key(uuid) IS
	'why a key may or may not do something: each step and the permissions it removed (needs api_key:view)';

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
