-- The same request behind billium's gate the documented way: SET LOCAL billium.api_key (as
-- set_config(..., true), since SET takes no parameters), then billium_authorize, which verifies
-- the key on first use.  One statement more than request_billium.sql.
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT set_config('billium.api_key', :api_key, true) IS NOT NULL;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id);
SELECT id, amount FROM bench.invoices WHERE merchant_id = :merchant_id ORDER BY id DESC LIMIT 1;
COMMIT;
