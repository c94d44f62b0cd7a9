/*
 * billium_test 1.0: fixtures for test suites (billium's own, and a deployment's pgTAP suites),
 * superusers and billium_admin only.  Not part of billium: a production database never installs
 * this extension, so it has no function that writes past the policies.  Installs into billium's
 * schema (the control file's schema), so @extschema@ is billium's.
 */

\echo Use "CREATE EXTENSION billium_test" to load this file. \quit

CREATE FUNCTION @extschema@.billium_test_user(email text) RETURNS uuid
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO @extschema@.users AS u (email) VALUES (billium_test_user.email)
	ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
	RETURNING u.id
$$;
COMMENT ON FUNCTION @extschema@.billium_test_user(text) IS
	'test fixture: the dashboard user with this email, created when missing (superusers and billium_admin only)';

CREATE FUNCTION @extschema@.billium_test_merchant(name text, owner_email text)
	RETURNS TABLE (merchant_id uuid, owner_id uuid)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid;
	owner uuid := @extschema@.billium_test_user(owner_email);
BEGIN
	INSERT INTO @extschema@.merchants AS m (name) VALUES (billium_test_merchant.name) RETURNING m.id INTO merchant;
	INSERT INTO @extschema@.team_members (merchant_id, user_id, role) VALUES (merchant, owner, 'OWNER');
	merchant_id := merchant;
	owner_id := owner;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_merchant(text, text) IS
	'test fixture: a new merchant and its OWNER (the user with owner_email, created when missing); superusers and billium_admin only';

CREATE FUNCTION @extschema@.billium_test_member(merchant_id uuid, email text, role text) RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	member uuid := @extschema@.billium_test_user(email);
BEGIN
	INSERT INTO @extschema@.team_members AS tm (merchant_id, user_id, role)
	VALUES (billium_test_member.merchant_id, member, billium_test_member.role)
	ON CONFLICT ON CONSTRAINT team_members_pkey DO UPDATE
	SET role = upper(EXCLUDED.role), permissions = @extschema@.billium_role_cap(EXCLUDED.role);
	RETURN member;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_member(uuid, text, text) IS
	'test fixture: put the user with this email (created when missing) on the team with the role''s full grant; returns the user id; superusers and billium_admin only';

CREATE FUNCTION @extschema@.billium_test_key(merchant_id uuid, key_type text,
		permissions @extschema@.billium_permset) RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	creator uuid;
	api_key text;
BEGIN
	SELECT tm.user_id INTO creator FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_test_key.merchant_id AND tm.role = 'OWNER';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'merchant % has no OWNER', billium_test_key.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	api_key := @extschema@.billium_key_generate(lower(key_type));
	INSERT INTO @extschema@.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
	VALUES (billium_test_key.merchant_id, lower(key_type), 'test', substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), billium_test_key.permissions, creator);
	RETURN api_key;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_key(uuid, text, @extschema@.billium_permset) IS
	'test fixture: a key of the merchant created by its OWNER with these permissions; returns the plaintext (superusers and billium_admin only)';

REVOKE ALL ON FUNCTION
	@extschema@.billium_test_user(text),
	@extschema@.billium_test_merchant(text, text),
	@extschema@.billium_test_member(uuid, text, text),
	@extschema@.billium_test_key(uuid, text, @extschema@.billium_permset)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_test_user(text),
	@extschema@.billium_test_merchant(text, text),
	@extschema@.billium_test_member(uuid, text, text),
	@extschema@.billium_test_key(uuid, text, @extschema@.billium_permset)
TO billium_admin;
