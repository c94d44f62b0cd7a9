-- bench/scale_setup.sql: the data set of make bench's scale part (bench/scale.sh), in a database
-- of its own: 10,000 merchants, each with its OWNER, and 100,000 secret keys (10 per merchant),
-- generated in SQL: the keys' hashes are inserted as billium_create_api_key stores them (the
-- SHA-256 of the key's UTF-8 bytes, a hint), as bench/setup.sql does, instead of 100,000 calls
-- of the key-creation function.  Plus one merchant apart from them (n = 0) whose owner creates
-- keys during the churn runs, and a table nothing watches for the churn runs' baseline writer.
-- Run by bench/scale.sh as the superuser of a throwaway cluster (psql -v ON_ERROR_STOP=1).

\set QUIET on
\if :{?merchants}
\else
\set merchants 10000
\endif
CREATE EXTENSION billium;
CREATE SCHEMA scale;

CREATE TABLE scale.tenants AS
SELECT g AS n, gen_random_uuid() AS merchant_id, gen_random_uuid() AS owner_id
FROM generate_series(0, :merchants) AS g;
ALTER TABLE scale.tenants ADD PRIMARY KEY (n);

INSERT INTO billium.merchants (id, name) SELECT merchant_id, 'scale merchant ' || n FROM scale.tenants;
INSERT INTO billium.users (id, email) SELECT owner_id, 'owner' || n || '@scale.test' FROM scale.tenants;
INSERT INTO billium.team_members (merchant_id, user_id, role) SELECT merchant_id, owner_id, 'OWNER' FROM scale.tenants;

-- Key i belongs to merchant 1 + (i - 1) / 10: keys 1..10,000 are those of merchants 1..1,000.
-- pgbench picks i (uniformly among the first n, or Zipf-skewed), so the plaintexts are kept.
CREATE TABLE scale.keys (i int PRIMARY KEY, api_key text NOT NULL, merchant_id uuid NOT NULL);
INSERT INTO scale.keys
SELECT (t.n - 1) * 10 + k, billium.billium_key_generate('sk'), t.merchant_id
FROM scale.tenants AS t, generate_series(1, 10) AS k
WHERE t.n >= 1;
INSERT INTO billium.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
SELECT k.merchant_id, 'sk', 'scale', substr(k.api_key, 1, 3) || '...' || right(k.api_key, 4),
	   sha256(convert_to(k.api_key, 'UTF8')), '{invoice:*,product:*}', t.owner_id
FROM scale.keys AS k JOIN scale.tenants AS t USING (merchant_id)
ORDER BY k.i;

-- 20 keys of merchant 0 that pgbench never presents, for scale.probes_per_miss.
CREATE TABLE scale.calibration_keys AS
SELECT billium.billium_key_generate('sk') AS api_key FROM generate_series(1, 20);
INSERT INTO billium.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
SELECT t.merchant_id, 'sk', 'scale calibration', substr(c.api_key, 1, 3) || '...' || right(c.api_key, 4),
	   sha256(convert_to(c.api_key, 'UTF8')), '{invoice:*,product:*}', t.owner_id
FROM scale.calibration_keys AS c, scale.tenants AS t WHERE t.n = 0;

-- The churn runs' baseline: the same write rate into a table no cache watches.
CREATE TABLE scale.unwatched (id bigserial PRIMARY KEY, merchant_id uuid NOT NULL, key_hash bytea NOT NULL,
							  created_at timestamptz NOT NULL DEFAULT now());

-- The probes of the key_hash index each pgbench client's warm-up made (bench/pgbench/scale_*.sql).
CREATE TABLE scale.warmup (probes bigint);

-- How many probes of api_keys' key_hash index one cache miss makes (1 in 0.5.0; 2 once a key's
-- lineage is looked up too): verify the 20 calibration keys, never verified before, in one
-- transaction and count this transaction's probes.  Once only: afterwards they are cached.
CREATE FUNCTION scale.probes_per_miss() RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	SELECT count(billium.billium_key_verify(c.api_key)) INTO n FROM scale.calibration_keys AS c;
	RETURN (SELECT sum(pg_stat_get_xact_numscans(c.oid)) FROM pg_class AS c
			WHERE c.relnamespace = 'billium'::regnamespace AND c.relkind = 'i'
			  AND c.relname ~ '^api_keys_key_hash') / n;
END
$$;

-- The memory of the verified-key cache: verify the first n keys in this session (a fresh one,
-- so its caches start empty), and return the bytes of billium's memory contexts in this backend
-- (pg_backend_memory_contexts) after the first key and after all n, and the bytes billium holds
-- in shared memory (pg_shmem_allocations) apart from the rate limiter's buckets and the usage
-- counts.  Measured by difference, so the figure is the cache's whatever its contexts are named.
CREATE FUNCTION scale.cache_memory(n int,
	OUT backend_bytes_one bigint, OUT backend_bytes_all bigint, OUT shared_bytes bigint, OUT shared_names text)
LANGUAGE plpgsql AS $$
DECLARE
	key_list text[];
BEGIN
	SELECT array_agg(k.api_key ORDER BY k.i) INTO key_list FROM scale.keys AS k WHERE k.i <= n;
	FOR i IN 1..cardinality(key_list) LOOP
		PERFORM billium.billium_key_verify(key_list[i]);
		IF i = 1 THEN
			SELECT coalesce(sum(c.total_bytes), 0) INTO backend_bytes_one
			FROM pg_backend_memory_contexts AS c WHERE c.name ILIKE 'billium%';
		END IF;
	END LOOP;
	SELECT coalesce(sum(c.total_bytes), 0) INTO backend_bytes_all
	FROM pg_backend_memory_contexts AS c WHERE c.name ILIKE 'billium%';
	SELECT coalesce(sum(a.allocated_size), 0), coalesce(string_agg(a.name, ', ' ORDER BY a.name), 'none')
	INTO shared_bytes, shared_names
	FROM pg_shmem_allocations AS a WHERE a.name ILIKE 'billium%' AND a.name NOT ILIKE '%rate limit%' AND a.name NOT ILIKE '%usage%';
END
$$;

VACUUM ANALYZE;
