-- Scale part (bench/scale.sh): the churn runs' baseline writer, at the same rate: one row into a
-- table no cache watches, in as many statements as the key-creating writer.
BEGIN;
SELECT now();
INSERT INTO scale.unwatched (merchant_id, key_hash) VALUES (:churn_merchant, sha256(convert_to(gen_random_uuid()::text, 'UTF8')));
COMMIT;
