-- The same request behind billium's gate, in one statement like the plain gate's: the FROM clause
-- verifies the key and makes it the transaction's principal, then the target list authorizes.
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) FROM billium.billium_authenticate(:api_key);
SELECT id, amount FROM bench.invoices WHERE merchant_id = :merchant_id ORDER BY id DESC LIMIT 1;
COMMIT;
