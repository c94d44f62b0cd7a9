/* billium: dashboard sessions (JWT verified in C). */

-- A session identifies a transaction with SET LOCAL billium.session = '<jwt>' or with this call.
CREATE FUNCTION @extschema@.billium_authenticate_session(jwt text) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authenticate_session(text) IS
	'verify a dashboard session token (HS256, RS256, ES256) and make its user this transaction''s principal';
REVOKE ALL ON FUNCTION @extschema@.billium_authenticate_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_authenticate_session(text) TO billium_api;
