-- The same request with billium's gate inside the read's own statement: the subquery verifies
-- the key and authorizes the action (a refusal is an error, as in request_billium.sql), and the
-- read then takes the merchant from the authorized principal, so the gate runs first.  No round
-- trip of its own: this is what the gate costs the server.
\set i random(1, :nkeys)
SELECT api_key, merchant_id FROM bench.keys WHERE i = :i \gset
BEGIN;
SELECT i.id, i.amount
FROM (SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) AS p
	  FROM billium.billium_authenticate(:api_key)) AS g,
	 LATERAL (SELECT id, amount FROM bench.invoices WHERE merchant_id = (g.p).merchant_id
			  ORDER BY id DESC LIMIT 1) AS i;
COMMIT;
