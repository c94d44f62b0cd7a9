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

-- The bucket this transaction's key was charged to, for the RateLimit header fields: no
-- permission needed (a key learns only its own merchant's bucket, or its own); no row when the
-- caller is not a key or nothing limits it.  Called first in a request, it verifies and charges
-- the key, so that a 401 or 429 names the request's action.
CREATE FUNCTION @extschema@.billium_rate_limit_current(action text DEFAULT NULL,
		OUT quota integer, OUT window_seconds integer, OUT remaining integer, OUT reset_seconds integer)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;
COMMENT ON FUNCTION @extschema@.billium_rate_limit_current(text) IS
	'the rate-limit bucket this transaction''s API key draws from: quota (the burst), the window it refills in, the requests remaining and the seconds until it is full again; no row for a session or when not limited';
REVOKE ALL ON FUNCTION @extschema@.billium_rate_limit_current(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_rate_limit_current(text) TO billium_api;
