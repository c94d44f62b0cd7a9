/* billium 0.5.0 -> 0.6.0 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Logical replication: regional nodes subscribed to merchants, users, team_members and api_keys
-- ---------------------------------------------------------------------------------------------

-- A subscriber's apply worker runs with session_replication_role = replica: it fires no statement
-- trigger for the rows it applies, and no row trigger unless enabled REPLICA or ALWAYS.  These row
-- triggers are enabled REPLICA, so they fire there (and in a superuser's replica-mode session),
-- never in an ordinary session, where the statement triggers already do the work: every backend
-- of the subscriber forgets what an applied change makes stale.  An applied TRUNCATE needs none:
-- the table's new relfilenode invalidates it everywhere.  The audit, creator-fill and guard
-- triggers stay enabled ORIGIN: they ran on the origin, and the applied rows carry their result.
COMMENT ON FUNCTION @extschema@.billium_invalidate_cache() IS
	'trigger: tells every backend at commit that a table behind its caches changed (per statement; per row in a subscriber''s apply worker)';
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
