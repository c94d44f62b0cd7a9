-- Scale part (bench/scale.sh): the gate alone, for a key picked Zipf-skewed (s = 1.01; pgbench's
-- random_zipfian needs s > 1) among the first :nactive of the 100,000 keys.
\set i random_zipfian(1, :nactive, 1.01)
SELECT api_key, merchant_id FROM scale.keys WHERE i = :i \gset
BEGIN;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) FROM billium.billium_authenticate(:api_key);
COMMIT;
