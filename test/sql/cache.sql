-- The caches: their settings (one per cache), billium_cache_stats() and
-- billium_local_cache_stats(), who may read them, and targeted invalidation within one backend
-- (the cluster preloads billium, so the key cache is the shared one; without preloading, and
-- eviction, see test/suites/cache_unpreloaded.sh).  Counts are printed as differences.
SET search_path = billium, public;
\set VERBOSITY default

-- One size setting per cache: keys per backend, keys shared (postmaster), teams, rates.
SELECT name, setting, context FROM pg_settings
WHERE name ~ '^billium\.(key|shared_key|team|rate)_cache_size$' ORDER BY name;

-- The users trigger fires on the factors' columns (and id) and no other: a factor added to
-- billium.security_factors must join its column list, or a change of it would not reach the caches.
SELECT (SELECT array_agg(a.attname::text ORDER BY a.attname)
		FROM pg_trigger AS t JOIN pg_attribute AS a
		  ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr::int2[])
		WHERE t.tgrelid = 'billium.users'::regclass AND t.tgname = 'users_invalidate_cache')
	 = (SELECT array_agg(c ORDER BY c)
		FROM (SELECT user_column::text FROM security_factors UNION ALL SELECT 'id') AS f(c))
	AS factor_columns_watched;

-- The key cache is the shared one, with its own capacity; the backend keeps no keys of its own.
SELECT scope, capacity FROM billium_cache_stats();
SELECT cache, capacity FROM billium_local_cache_stats();

-- A per-backend size takes effect at once.
SET billium.team_cache_size = 5;
SELECT cache, capacity, entries FROM billium_local_cache_stats() WHERE cache = 'teams';
RESET billium.team_cache_size;

-- Counts only, yet not for everyone: billium_admin and pg_monitor.
CREATE ROLE regress_cache_nobody;
CREATE ROLE regress_cache_monitor IN ROLE pg_monitor;
SET ROLE regress_cache_nobody;
SELECT scope FROM billium_cache_stats();
SELECT count(*) FROM billium_local_cache_stats();
SET ROLE regress_cache_monitor;
SELECT scope FROM billium_cache_stats();
RESET ROLE;

-- Fixtures: merchants A and B, a key of each.
SELECT merchant_id AS m_a FROM billium_test_merchant('cache A', 'owner@cache-a.test') \gset
SELECT merchant_id AS m_b FROM billium_test_merchant('cache B', 'owner@cache-b.test') \gset
SELECT billium_test_key(:'m_a', 'sk', '{invoice:view}') AS sk_a \gset
SELECT billium_test_key(:'m_b', 'sk', '{invoice:view}') AS sk_b \gset
CREATE TEMP TABLE mark AS SELECT hits, misses, stale FROM billium_cache_stats();
CREATE FUNCTION pg_temp.delta() RETURNS TABLE (hits bigint, misses bigint, stale bigint)
LANGUAGE sql AS $$
	WITH now AS (SELECT * FROM billium.billium_cache_stats()), was AS (SELECT * FROM mark),
	upd AS (UPDATE mark SET hits = now.hits, misses = now.misses, stale = now.stale FROM now)
	SELECT now.hits - was.hits, now.misses - was.misses, now.stale - was.stale FROM now, was
$$;

-- First verification: a miss; the second: a hit.
SELECT (billium_authenticate(:'sk_a')).kind;
SELECT * FROM pg_temp.delta();
SELECT (billium_authenticate(:'sk_a')).kind, (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();
SELECT (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();

-- A change to A's keys makes A's entry stale, not B's.
UPDATE api_keys SET name = 'renamed' WHERE merchant_id = :'m_a';
SELECT (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();
SELECT (billium_authenticate(:'sk_a')).kind;
SELECT * FROM pg_temp.delta();

-- A change to a merchant row (its settings) makes its keys stale too.
UPDATE merchants SET name = 'cache A again' WHERE id = :'m_a';
SELECT (billium_authenticate(:'sk_a')).kind, (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();

-- billium.key_cache_size = 0 turns key caching off: nothing is read from the cache.
SET billium.key_cache_size = 0;
SELECT (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();
RESET billium.key_cache_size;

-- A transaction that wrote to the tables caches nothing (its writes may roll back).
BEGIN;
UPDATE api_keys SET revoked_at = now() WHERE merchant_id = :'m_b';
SELECT (billium_authenticate(:'sk_b')).kind;
ROLLBACK;
SELECT (billium_authenticate(:'sk_b')).kind;
SELECT * FROM pg_temp.delta();

-- PREPARE TRANSACTION of such a write is refused: no callback would tell the caches at COMMIT
-- PREPARED.
BEGIN;
UPDATE api_keys SET name = 'prepared' WHERE merchant_id = :'m_b';
PREPARE TRANSACTION 'regress_cache';
SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'regress_cache';

-- The trigger only as a trigger.
SELECT billium_invalidate_cache();

DELETE FROM merchants WHERE id IN (:'m_a', :'m_b');
DROP ROLE regress_cache_nobody, regress_cache_monitor;
