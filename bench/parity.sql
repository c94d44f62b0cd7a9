-- bench/parity.sql: do billium and the plain-SQL peer give the same answer?  Every action for a
-- sample of the bench keys and the odd ones (public, revoked, expired, demoted or narrowed or
-- departed creator), on the key's own merchant, another merchant and no merchant, plus a
-- malformed and an unknown key.  An answer is 'allow' or the refusal's SQLSTATE.  A benchmark
-- of two gates that disagree would compare different work, so run.sh prints the disagreements.
CREATE TABLE bench.parity AS
WITH presented AS (
	SELECT what, api_key, merchant_id FROM bench.odd_keys
	UNION ALL
	SELECT 'bench key ' || i, api_key, merchant_id FROM bench.keys WHERE i % 100 = 1
	UNION ALL
	SELECT 'malformed key', 'sk_notakey', merchant_id FROM bench.tenants WHERE n = 1
	UNION ALL
	-- well formed, checksum and all, but never stored.
	SELECT 'unknown key', billium.billium_key_generate('sk'), merchant_id FROM bench.tenants WHERE n = 1
), cases AS (
	SELECT p.what, p.api_key, a.name AS action, m.merchant_id, m.which
	FROM presented AS p
	CROSS JOIN billium.actions AS a   -- those an API key's permissions decide (as plain.actions)
	CROSS JOIN LATERAL (VALUES (p.merchant_id, 'own merchant'),
							   ((SELECT merchant_id FROM bench.tenants WHERE n = 2), 'other merchant'),
							   (NULL::uuid, 'no merchant')) AS m(merchant_id, which)
	WHERE a.permission IS NOT NULL
)
SELECT what, action, which,
	   bench.outcome_billium(api_key, action, merchant_id) AS billium,
	   bench.outcome_plain(api_key, action, merchant_id) AS plain
FROM cases;
