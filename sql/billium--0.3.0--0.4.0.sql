/* billium 0.3.0 -> 0.4.0: dashboard sessions (JWT verified in C) and team security requirements. */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.4.0'" to load this file. \quit

-- A session identifies a transaction with SET LOCAL billium.session = '<jwt>' or with this call.
CREATE FUNCTION @extschema@.billium_authenticate_session(jwt text) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authenticate_session(text) IS
	'verify a dashboard session token (HS256, RS256, ES256) and make its user this transaction''s principal';
REVOKE ALL ON FUNCTION @extschema@.billium_authenticate_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_authenticate_session(text) TO billium_api;

-- A user's factors decide which merchants their sessions reach: enabling one takes effect at the
-- user's next transaction in every backend, as a change of keys or teams does.
CREATE TRIGGER users_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
