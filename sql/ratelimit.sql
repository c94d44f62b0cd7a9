/* billium: the rate limiter's status (the limiter is C; a merchant's own limit is in merchants). */

CREATE FUNCTION @extschema@.billium_rate_limit_status(merchant_id uuid DEFAULT NULL,
	OUT enabled boolean, OUT reason text, OUT scope text, OUT rate real, OUT burst integer,
	OUT tokens real, OUT retry_after_ms bigint)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_rate_limit_status(uuid) IS
	'the rate limiter: whether it is on and why, the scope, rate and burst, and for a merchant (callers with merchant:view there, or superusers) its bucket''s tokens and the wait for the next request';

REVOKE ALL ON FUNCTION @extschema@.billium_rate_limit_status(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_rate_limit_status(uuid) TO billium_api;
