/* billium: who is calling (the principal of the transaction), the gate, and what policies ask. */

------------------------------------------------------------------------------------------------
-- Who is calling: a principal per transaction.
------------------------------------------------------------------------------------------------

CREATE TYPE @extschema@.billium_principal AS (
	kind text,			-- 'api_key' or 'user'
	merchant_id uuid,	-- the key's merchant; null for a user (whose merchants are their teams)
	key_id uuid,
	key_type text,		-- 'sk' or 'pk'
	user_id uuid,		-- the user, or the key's creator
	permissions @extschema@.billium_permset  -- the key's effective permissions; null for a user
);

CREATE TYPE @extschema@.billium_key_principal AS (
	key_id uuid,
	merchant_id uuid,
	key_type text,
	created_by uuid,
	permissions @extschema@.billium_permset
);

------------------------------------------------------------------------------------------------
-- The principal of the transaction, and the gate.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_authenticate(api_key text) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authenticate(text) IS
	'verify the key and make it the principal of this transaction';

CREATE FUNCTION @extschema@.billium_current_principal() RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_current_principal() IS
	'the caller of this transaction (from billium.api_key, request.headers, billium_authenticate or billium_act_as), or null';

CREATE FUNCTION @extschema@.billium_principal_permissions(merchant_id uuid) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_principal_permissions(uuid) IS
	'what the caller of this transaction may do on the merchant: {} when nothing';

CREATE FUNCTION @extschema@.billium_authorize(action text, merchant_id uuid DEFAULT NULL)
	RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authorize(text, uuid) IS
	'the one call per request: the principal if it may perform the action on the merchant, else the 401/403/429 envelope';

CREATE FUNCTION @extschema@.billium_gate(api_key text, action text, merchant_id uuid DEFAULT NULL)
	RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_gate(text, text, uuid) IS
	'billium_authenticate and billium_authorize in one call: the key''s principal if it may perform the action on the merchant, else the 401/403/429 envelope';

CREATE FUNCTION @extschema@.billium_act_as(user_id uuid) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_act_as(uuid) IS
	'make a dashboard user the principal of this transaction without a token (superusers and billium_admin only)';

------------------------------------------------------------------------------------------------
-- What policies ask: STABLE functions, wrapped as (SELECT ...) so each runs once per statement
-- (an InitPlan) and the merchant_id index is still used.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_merchants_with(permission text) RETURNS uuid[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_with(text) IS
	'the merchants where this transaction''s caller holds the permission (for policies)';

CREATE FUNCTION @extschema@.billium_merchants_listing(permission text) RETURNS uuid[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_listing(text) IS
	'as billium_merchants_with, but none for a pk key: public keys never enumerate';

CREATE FUNCTION @extschema@.billium_public_key_with(permission text) RETURNS uuid
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_public_key_with(text) IS
	'the caller''s key id when it is a pk key holding the permission, else null (pk keys see only what they created)';

-- For view policies (billium_policy_clause, in policies.sql): a create-only caller sees the row
-- its own INSERT ... RETURNING checks.
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

REVOKE ALL ON FUNCTION
	@extschema@.billium_authenticate(text),
	@extschema@.billium_current_principal(),
	@extschema@.billium_principal_permissions(uuid),
	@extschema@.billium_authorize(text, uuid),
	@extschema@.billium_gate(text, text, uuid),
	@extschema@.billium_act_as(uuid),
	@extschema@.billium_merchants_with(text),
	@extschema@.billium_merchants_listing(text),
	@extschema@.billium_public_key_with(text),
	@extschema@.billium_merchants_returning(text, text, boolean),
	@extschema@.billium_policy_visible_merchants(text, text, boolean),
	@extschema@.billium_policy_visible_whole(text, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_authenticate(text),
	@extschema@.billium_current_principal(),
	@extschema@.billium_principal_permissions(uuid),
	@extschema@.billium_authorize(text, uuid),
	@extschema@.billium_gate(text, text, uuid),
	@extschema@.billium_merchants_with(text),
	@extschema@.billium_merchants_listing(text),
	@extschema@.billium_public_key_with(text),
	@extschema@.billium_merchants_returning(text, text, boolean),
	@extschema@.billium_policy_visible_merchants(text, text, boolean),
	@extschema@.billium_policy_visible_whole(text, text, boolean)
TO billium_api;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_merchants_returning(text, text, boolean),
	@extschema@.billium_policy_visible_merchants(text, text, boolean),
	@extschema@.billium_policy_visible_whole(text, text, boolean)
TO billium_admin;
GRANT EXECUTE ON FUNCTION @extschema@.billium_act_as(uuid) TO billium_admin;
