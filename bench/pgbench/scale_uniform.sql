-- Scale part (bench/scale.sh): the gate alone, for a key picked uniformly among the first :nactive
-- of the 100,000 keys.  Its own query picks the key (as in every scale script alike).
\set i random(1, :nactive)
SELECT api_key, merchant_id FROM scale.keys WHERE i = :i \gset
BEGIN;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) FROM billium.billium_authenticate(:api_key);
COMMIT;
