/*
 * billium 0.5.0 -> 0.6.0: the escalations found in review closed (issue 12).
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit

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
