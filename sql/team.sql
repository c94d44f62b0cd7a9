/* billium: the team: who may change it, its one OWNER, and the security flags. */

------------------------------------------------------------------------------------------------
-- Who is writing.  The triggers that guard the team and the security flags let through the
-- extension's own SECURITY DEFINER functions (current_user is then the schema's owner), the
-- cascades of foreign keys (run as the referencing table's owner, the same role) and superusers
-- writing fixtures directly.  A custom setting would not do: any role may set one.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_internal_write() RETURNS boolean
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_roles r
				   WHERE r.rolname OPERATOR(pg_catalog.=) current_user
					 AND (r.rolsuper
						  OR r.oid OPERATOR(pg_catalog.=) (SELECT n.nspowner FROM pg_catalog.pg_namespace n
														   WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace)))
$$;
COMMENT ON FUNCTION @extschema@.billium_internal_write() IS
	'internal: is the current user a superuser or the extension''s owner (its own SECURITY DEFINER functions, foreign-key cascades)?';

-- Is this write checked against the caller?  Not without a principal (a superuser loading data,
-- a restore) nor for the extension's own SECURITY DEFINER functions and superusers.
CREATE FUNCTION @extschema@.billium_caller_write(caller @extschema@.billium_principal) RETURNS boolean
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT caller.kind IS NOT NULL AND NOT @extschema@.billium_internal_write()
$$;
COMMENT ON FUNCTION @extschema@.billium_caller_write(@extschema@.billium_principal) IS
	'internal: is this write made by an API caller (a principal, not the extension itself or a superuser)?';

-- Is the caller a dashboard user who is the merchant's OWNER?  (Reads the team as the owner, so
-- it answers the same whatever the caller may see.)
CREATE FUNCTION @extschema@.billium_is_owner(merchant_id uuid) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT FROM @extschema@.billium_current_principal() AS p
						  JOIN @extschema@.team_members tm ON tm.user_id OPERATOR(pg_catalog.=) p.user_id
				   WHERE p.kind OPERATOR(pg_catalog.=) 'user'
					 AND tm.merchant_id OPERATOR(pg_catalog.=) billium_is_owner.merchant_id
					 AND tm.role OPERATOR(pg_catalog.=) 'OWNER')
$$;
COMMENT ON FUNCTION @extschema@.billium_is_owner(uuid) IS
	'is this transaction''s caller a dashboard user who is the merchant''s OWNER?';

-- The security flags: only the merchant's OWNER, in a dashboard session, changes them; every
-- change is audited.
CREATE FUNCTION @extschema@.billium_merchants_guard() RETURNS trigger
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
COMMENT ON FUNCTION @extschema@.billium_merchants_guard() IS
	'trigger: only the merchant''s OWNER (a dashboard session) changes the enforce_* security flags';
CREATE TRIGGER merchants_guard BEFORE UPDATE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_merchants_guard();

-- Nobody grants a role or permissions above their own, and the one OWNER is neither added,
-- removed nor demoted except by billium_create_merchant and billium_transfer_ownership.  Runs
-- after team_members_fill (triggers fire in name order), so the role is upper case and the
-- grant filled in.
CREATE FUNCTION @extschema@.billium_team_members_guard() RETURNS trigger
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
CREATE TRIGGER team_members_guard BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_team_members_guard();

------------------------------------------------------------------------------------------------
-- Opening a merchant and handing it on.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_create_merchant(name text) RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	merchant uuid;
BEGIN
	IF caller.kind IS NULL THEN
		PERFORM @extschema@.billium_deny('API_KEY_MISSING', 'merchants.create');
	ELSIF caller.kind OPERATOR(pg_catalog.<>) 'user' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'merchants.create',
			jsonb_build_object('reason', 'only a dashboard session may open a merchant'));
	END IF;
	INSERT INTO @extschema@.merchants AS m (name) VALUES (billium_create_merchant.name)
	RETURNING m.id INTO merchant;
	INSERT INTO @extschema@.team_members (merchant_id, user_id, role)
	VALUES (merchant, caller.user_id, 'OWNER');
	RETURN merchant;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_create_merchant(text) IS
	'open a merchant with the calling dashboard user as its OWNER (any dashboard session; never a key)';

CREATE FUNCTION @extschema@.billium_transfer_ownership(merchant_id uuid, new_owner uuid) RETURNS void
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
COMMENT ON FUNCTION @extschema@.billium_transfer_ownership(uuid, uuid) IS
	'make a team member the OWNER; the old OWNER becomes ADMIN (the OWNER alone, in a dashboard session)';

REVOKE ALL ON FUNCTION
	@extschema@.billium_internal_write(),
	@extschema@.billium_is_owner(uuid),
	@extschema@.billium_merchants_guard(),
	@extschema@.billium_team_members_guard(),
	@extschema@.billium_create_merchant(text),
	@extschema@.billium_transfer_ownership(uuid, uuid),
	@extschema@.billium_caller_write(@extschema@.billium_principal)
FROM PUBLIC;
-- The guard triggers run as the writer, so the writer needs what they call.
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_internal_write(),
	@extschema@.billium_is_owner(uuid),
	@extschema@.billium_security_flags(@extschema@.merchants),
	@extschema@.billium_create_merchant(text),
	@extschema@.billium_transfer_ownership(uuid, uuid)
TO billium_api;
-- billium_server_columns and billium_invoices_guard (tables.sql) run as the writer too.
GRANT EXECUTE ON FUNCTION @extschema@.billium_caller_write(@extschema@.billium_principal) TO billium_api, billium_admin;

-- Provisioning: the application's sign-up and account settings create users and record the
-- factors they have enabled.  Not the API's (billium_api may not), not test fixtures: the role
-- billium_provisioner is granted to the login the sign-up service uses, and nothing else.
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
