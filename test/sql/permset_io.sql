-- billium_permset text and binary I/O, casts and input errors.
-- Runs as an ordinary role: the type needs no privilege beyond PUBLIC's.
CREATE ROLE regress_billium_reader;
SET ROLE regress_billium_reader;
SET search_path = billium, public;

-- Canonical output: braces, bit order, no spaces, no duplicates, no wildcards.
SELECT '{product:view, invoice:view}'::billium_permset;
SELECT ' { invoice:view ,invoice:view,  product:view } '::billium_permset;
SELECT '{}'::billium_permset, ' {  } '::billium_permset;
SELECT '{invoice:*}'::billium_permset;
SELECT '{*}'::billium_permset = '{merchant:*,invoice:*,product:*,customer:*,team:*,api_key:*,webhook:*,checkout:*,wallet:*,report:*}'::billium_permset AS star_is_every_domain;
SELECT billium_permset_count('{*}'), billium_permset_count('{}'), billium_permset_count('{team:*}');

-- Bit positions follow the spec's table and are part of the on-disk format.
SELECT '{merchant:view}'::billium_permset::bigint AS bit0,
       '{report:view}'::billium_permset::bigint AS bit33,
       '{*}'::billium_permset::bigint AS all34;

-- Every single permission round-trips through text and lands on its own bit.
SELECT count(*) AS singles_ok
FROM permissions
WHERE ('{' || name || '}')::billium_permset::text = '{' || name || '}'
  AND ('{' || name || '}')::billium_permset::bigint = (1::bigint << "bit");

-- Thousands of random sets round-trip through text, text[] and bigint.
SELECT setseed(0.4242);
CREATE TEMP TABLE samples AS
  SELECT (floor(random() * 17179869184))::bigint::billium_permset AS s
  FROM generate_series(1, 5000);
SELECT count(*) AS samples,
       count(*) FILTER (WHERE s::text::billium_permset = s) AS text_ok,
       count(*) FILTER (WHERE s::text[]::billium_permset = s) AS array_ok,
       count(*) FILTER (WHERE s::bigint::billium_permset = s) AS bigint_ok,
       count(*) FILTER (WHERE billium_permset_count(s) = cardinality(s::text[])) AS count_ok
FROM samples;

-- Binary form: send is the big-endian int8, and COPY BINARY round-trips through recv.
SELECT count(*) AS send_is_int8
FROM samples WHERE billium_permset_send(s) = int8send(s::bigint);
INSERT INTO samples VALUES ('{}'), ('{*}');
\copy samples TO '/tmp/billium_regress_permset.bin' WITH (FORMAT binary)
CREATE TEMP TABLE samples_back (s billium_permset);
\copy samples_back FROM '/tmp/billium_regress_permset.bin' WITH (FORMAT binary)
SELECT (SELECT count(*) FROM samples_back) AS copied,
       (SELECT count(*) FROM (SELECT s FROM samples EXCEPT ALL SELECT s FROM samples_back) d) AS lost;

-- recv refuses reserved bits: an int8 with bit 40 set, read back as a permission set.
CREATE TEMP TABLE wide (v bigint);
INSERT INTO wide VALUES (1::bigint << 40);
\copy wide TO '/tmp/billium_regress_wide.bin' WITH (FORMAT binary)
\copy samples_back FROM '/tmp/billium_regress_wide.bin' WITH (FORMAT binary)
SELECT count(*) AS still_5002 FROM samples_back;

-- Casts.
SELECT ARRAY['product:view', 'invoice:*']::billium_permset;
SELECT '{invoice:view,product:view}'::billium_permset::text[];
SELECT 48::bigint::billium_permset;
SELECT (1::bigint << 34)::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT (-1)::bigint::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT ARRAY['invoice:view', NULL]::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT ARRAY[['invoice:view']]::billium_permset;
SELECT ARRAY['invoice:fly']::billium_permset;
\echo :LAST_ERROR_SQLSTATE

-- Bad input: 22P02 naming the token, with the domain's permissions as a hint.
SELECT '{invoice:fly}'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT '{invoice}'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT '{nosuch:view}'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT '{invoice:view'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT 'invoice:view'::billium_permset;
SELECT '{invoice:view} trailing'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT '{invoice:view}}'::billium_permset;
SELECT '{invoice:view,,product:view}'::billium_permset;
SELECT '{invoice:view,}'::billium_permset;
SELECT '{{invoice:view}}'::billium_permset;
\echo :LAST_ERROR_SQLSTATE
SELECT '{Invoice:View}'::billium_permset;
SELECT '{invoice:*x}'::billium_permset;
SELECT ''::billium_permset;

RESET ROLE;
DROP OWNED BY regress_billium_reader;
DROP ROLE regress_billium_reader;
