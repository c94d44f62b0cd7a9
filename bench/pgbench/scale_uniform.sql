-- Scale part (bench/scale.sh): the gate alone, for a key picked uniformly among the first :nactive
-- of the 100,000 keys.  Its own query picks the key (as in every scale script alike).
-- Each client first verifies the first :nwarm keys in one transaction (once: pgbench keeps a
-- client's variables from one transaction to the next), so that a run measures a warm cache, as
-- a long-lived connection has, not the first fill of a new one; that transaction records its
-- own probes of the key_hash index, which bench/scale.sh takes out of the hit rate.
\if :warmed = 0
BEGIN;
SELECT count(billium.billium_key_verify(api_key)) FROM scale.keys WHERE i <= :nwarm;
INSERT INTO scale.warmup (probes) SELECT sum(pg_stat_get_xact_numscans(c.oid)) FROM pg_class AS c
WHERE c.relnamespace = 'billium'::regnamespace AND c.relkind = 'i' AND c.relname ~ '^api_keys_key_hash';
COMMIT;
\set warmed 1
\endif
\set i random(1, :nactive)
SELECT api_key, merchant_id FROM scale.keys WHERE i = :i \gset
BEGIN;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) FROM billium.billium_authenticate(:api_key);
COMMIT;
