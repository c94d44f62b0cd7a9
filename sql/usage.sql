/* billium: key usage (issue 15).  When each key was last used and how often: counted in shared
   memory by the backends that verify keys, written here in batches by billium's background
   worker (billium.usage_database, billium.usage_flush_interval), so that no request writes a
   row and no count empties the key cache (this table has no invalidation trigger). */

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
