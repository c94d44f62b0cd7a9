-- The same request behind the plain-SQL gate (bench/setup.sql: digest() and joins).
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT plain.authorize(:api_key, 'invoices.retrieve', :merchant_id);
SELECT id, amount FROM bench.invoices WHERE merchant_id = :merchant_id ORDER BY id DESC LIMIT 1;
COMMIT;
