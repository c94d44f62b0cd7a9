-- A request without any gate: the key and merchant are picked (outside the transaction, as the
-- client would already know them), then the request's transaction does its one indexed read.
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT id, amount FROM bench.invoices WHERE merchant_id = :merchant_id ORDER BY id DESC LIMIT 1;
COMMIT;
