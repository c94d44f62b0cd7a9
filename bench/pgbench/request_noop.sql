-- The request with a statement that does nothing in the gate's place: what a gate that cost
-- nothing but its own round trip would keep of the request without a gate.
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT true;
SELECT id, amount FROM bench.invoices WHERE merchant_id = :merchant_id ORDER BY id DESC LIMIT 1;
COMMIT;
