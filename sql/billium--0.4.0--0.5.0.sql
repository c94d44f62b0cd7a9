/*
 * billium 0.4.0 -> 0.5.0: key-scoped rate limiting in shared memory (billium.rate_limit,
 * billium.rate_burst, billium.rate_limit_scope), a per-merchant override, and its status.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.5.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- A merchant's own limit.  Null: the setting.  Only a superuser or the extension's owner sets
-- them: billium_api's UPDATE grant on merchants names its columns, and these are not among them.
-- A change reaches every backend at commit through the merchants table's invalidation trigger.
------------------------------------------------------------------------------------------------

ALTER TABLE @extschema@.merchants
	ADD COLUMN rate_limit real CHECK (rate_limit >= 0 AND rate_limit <= 1000000),
	ADD COLUMN rate_burst integer CHECK (rate_burst BETWEEN 1 AND 1000000);
COMMENT ON COLUMN @extschema@.merchants.rate_limit IS
	'requests per second this merchant''s API keys may make; 0: not limited; null: billium.rate_limit';
COMMENT ON COLUMN @extschema@.merchants.rate_burst IS
	'requests a full bucket admits at once; null: billium.rate_burst';

------------------------------------------------------------------------------------------------
-- Status.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_rate_limit_status(merchant_id uuid DEFAULT NULL,
	OUT enabled boolean, OUT reason text, OUT scope text, OUT rate real, OUT burst integer,
	OUT tokens real, OUT retry_after_ms bigint)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_rate_limit_status(uuid) IS
	'the rate limiter: whether it is on and why, the scope, rate and burst, and for a merchant (callers with merchant:view there, or superusers) its bucket''s tokens and the wait for the next request';

REVOKE ALL ON FUNCTION @extschema@.billium_rate_limit_status(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_rate_limit_status(uuid) TO billium_api;
