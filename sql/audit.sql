/* billium: the audit trail. */

------------------------------------------------------------------------------------------------
-- The audit trail: appended in the same transaction by triggers and by the extension's own
-- functions, as the extension's owner; nobody updates or deletes it through the API.  No
-- foreign key to merchants: a deleted merchant's history stays.  Writes without a principal (a
-- superuser provisioning) are logged with a null principal_kind, except when a restore reloads
-- the tables: logging those rows again would duplicate the restored trail and collide with its
-- ids.  A restore runs with row_security = off, where an ordinary role can write nothing here.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.audit_log (
	id bigserial PRIMARY KEY,
	merchant_id uuid NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	category text NOT NULL CHECK (category IN ('api_key', 'team', 'security')),
	action text NOT NULL,
	principal_kind text,		-- 'api_key', 'user', or null when no principal (provisioning)
	user_id uuid,				-- the dashboard user, or the key's creator
	key_id uuid,				-- the key, when the principal is one
	before jsonb,
	after jsonb,
	request_id text				-- billium.request_id: the HTTP request (x-request-id), or null
);
CREATE INDEX audit_log_merchant_id ON @extschema@.audit_log (merchant_id, id);
COMMENT ON TABLE @extschema@.audit_log IS
	'append-only: every change to keys, team membership, roles, grants, ownership and security flags';
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

CREATE FUNCTION @extschema@.billium_audit(merchant_id uuid, category text, action text,
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
COMMENT ON FUNCTION @extschema@.billium_audit(uuid, text, text, jsonb, jsonb) IS
	'internal: append a row to the audit trail with this transaction''s principal (not when a restore reloads the tables)';

-- A key as the audit trail shows it: never its hash; a leak's when and where once it has one;
-- for a replacement made by a roll, what it replaced and who rolled it.
CREATE FUNCTION @extschema@.billium_audit_key(k @extschema@.api_keys) RETURNS jsonb
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
COMMENT ON FUNCTION @extschema@.billium_audit_key(@extschema@.api_keys) IS
	'internal: a key as the audit trail records it (every column but key_hash)';

CREATE FUNCTION @extschema@.billium_audit_member(m @extschema@.team_members) RETURNS jsonb
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_build_object('user_id', m.user_id, 'role', m.role,
										 'permissions', @extschema@.billium_permset_names(m.permissions))
$$;
COMMENT ON FUNCTION @extschema@.billium_audit_member(@extschema@.team_members) IS
	'internal: a team membership as the audit trail records it';

-- Keys: INSERT is a create; an UPDATE of leaked_at a leak (billium_report_leaked_keys); of
-- revoked_at a revoke; of expires_at a roll (the old key of billium_roll_api_key, whose
-- replacement is the create logged just before); any other change an edit.
CREATE FUNCTION @extschema@.billium_api_keys_audit() RETURNS trigger
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
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_api_keys_audit();

ALTER TABLE @extschema@.audit_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- Its policies, audit_log_view (key events: api_key:view) and audit_log_view_team (team and
-- security events: team:view), are rows of billium.policy_rules (policies.sql).

CREATE FUNCTION @extschema@.billium_merchants_audit() RETURNS trigger
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
COMMENT ON FUNCTION @extschema@.billium_merchants_audit() IS
	'trigger: audit every change to a merchant''s security flags';
CREATE TRIGGER merchants_audit AFTER UPDATE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_merchants_audit();

CREATE FUNCTION @extschema@.billium_team_members_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'team', 'team.invite', NULL,
										  @extschema@.billium_audit_member(NEW));
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM @extschema@.billium_audit(OLD.merchant_id, 'team', 'team.remove',
										  @extschema@.billium_audit_member(OLD), NULL);
	ELSIF NEW.role IS DISTINCT FROM OLD.role OR NEW.permissions OPERATOR(@extschema@.<>) OLD.permissions THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'team', 'team.update_role',
										  @extschema@.billium_audit_member(OLD),
										  @extschema@.billium_audit_member(NEW));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_team_members_audit() IS
	'trigger: audit every change to team membership, roles and grants';
CREATE TRIGGER team_members_audit AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_team_members_audit();

REVOKE ALL ON FUNCTION
	@extschema@.billium_audit(uuid, text, text, jsonb, jsonb),
	@extschema@.billium_audit_key(@extschema@.api_keys),
	@extschema@.billium_audit_member(@extschema@.team_members),
	@extschema@.billium_api_keys_audit(),
	@extschema@.billium_merchants_audit(),
	@extschema@.billium_team_members_audit()
FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_log TO billium_api;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');
