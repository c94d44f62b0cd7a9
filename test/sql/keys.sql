-- API keys: the key format, the principal of a transaction, the gate's refusals and their
-- SQLSTATEs and JSON envelopes, the error catalog and the actions table.
-- The full permission-by-action matrix is in test/pgtap/keys_gate.sql.
CREATE ROLE regress_billium_app;
GRANT billium_api TO regress_billium_app;
SET search_path = billium, public;
\set VERBOSITY default

-- Literal keys below were made outside the database with Python: 'sk_' or 'pk_', 90 base62
-- characters, then the CRC-32 (zlib.crc32) of those 93 characters in base62 (0-9A-Za-z), most
-- significant digit first, zero-padded to 6.
\set good_sk 'sk_8aspm4G7VmSUfOoD6V1vrORcmn0iSHkpEby6vK111fY0yuOhDRk1XEmSyVZEMEhEmTyIx1QrwZxf6BektI7lLvkjWx2eCkqc'
\set other_sk 'sk_ztys355NrAlpgsJGcDc2bhARePpktWyNYxSWHv2t1NTxKwORvuXAZBFE1BKB8WWNWhZBvSoQlXwwmNobMNszSAzmPj3QgR6A'
\set good_pk 'pk_FbY8NwcUeb4c0wrUGZECjUYrZUPet9Ee9txXOl0gn4Amzb2Jn1qtHUckwuOjowRPkpaSzx8uN628VDGzhRnesJQWrO3in2AD'
-- CRC-32 553307059 is "0bRcRP": the leading zero is padding.
\set padded_sk 'sk_0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010bRcRP'

------------------------------------------------------------------------------------------------
-- Fixtures (superuser): a merchant with its OWNER, another merchant, and one key with a known
-- plaintext stored as its SHA-256, and a revoked pk key.
------------------------------------------------------------------------------------------------
INSERT INTO merchants (id, name) VALUES
	('a0000000-0000-0000-0000-0000000000f1', 'regress merchant'),
	('a0000000-0000-0000-0000-0000000000f2', 'regress other merchant');
INSERT INTO users (id, email) VALUES ('b0000000-0000-0000-0000-0000000000f1', 'owner@keys.regress');
INSERT INTO team_members (merchant_id, user_id, role)
	VALUES ('a0000000-0000-0000-0000-0000000000f1', 'b0000000-0000-0000-0000-0000000000f1', 'owner');
SELECT role, permissions = billium_role_cap('OWNER') AS full_cap FROM team_members
WHERE user_id = 'b0000000-0000-0000-0000-0000000000f1';
INSERT INTO api_keys (id, merchant_id, key_type, name, hint, key_hash, permissions, created_by)
	VALUES ('c0000000-0000-0000-0000-0000000000f1', 'a0000000-0000-0000-0000-0000000000f1', 'sk', 'regress',
			'sk_...' || right(:'good_sk', 4), sha256(convert_to(:'good_sk', 'UTF8')), '{invoice:*,product:view}',
			'b0000000-0000-0000-0000-0000000000f1'),
		   ('c0000000-0000-0000-0000-0000000000f2', 'a0000000-0000-0000-0000-0000000000f1', 'pk', 'regress revoked',
			'pk_...' || right(:'good_pk', 4), sha256(convert_to(:'good_pk', 'UTF8')), '{invoice:view}',
			'b0000000-0000-0000-0000-0000000000f1');
UPDATE api_keys SET revoked_at = now() WHERE id = 'c0000000-0000-0000-0000-0000000000f2';

------------------------------------------------------------------------------------------------
-- Key generation (superuser: billium_key_generate is not granted to billium_api; see below).
------------------------------------------------------------------------------------------------
-- An independent CRC-32 (IEEE, reflected, as zlib) and base62 encoding, in PL/pgSQL.
CREATE FUNCTION pg_temp.crc32(t text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	crc bigint := 4294967295;
BEGIN
	FOR i IN 1..length(t) LOOP
		crc := crc # ascii(substr(t, i, 1));
		FOR j IN 1..8 LOOP
			crc := CASE WHEN crc & 1 = 1 THEN (crc >> 1) # 3988292384 ELSE crc >> 1 END;
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END
$$;
CREATE FUNCTION pg_temp.base62_6(n bigint) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	out text := '';
BEGIN
	FOR i IN 1..6 LOOP
		out := substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', (n % 62)::int + 1, 1) || out;
		n := n / 62;
	END LOOP;
	RETURN out;
END
$$;
-- The PL/pgSQL checksum agrees with Python's on the literal keys.
SELECT right(k, 6) AS checksum, pg_temp.base62_6(pg_temp.crc32(left(k, 93))) = right(k, 6) AS plpgsql_agrees
FROM (VALUES (:'good_sk'), (:'other_sk'), (:'good_pk'), (:'padded_sk')) AS v(k);

CREATE TEMP TABLE gen AS
	SELECT i, billium_key_generate(CASE WHEN i % 2 = 0 THEN 'sk' ELSE 'pk' END) AS k
	FROM generate_series(1, 1000) AS i;
SELECT count(*) AS keys,
	   count(DISTINCT k) AS distinct_keys,
	   count(DISTINCT substr(k, 4, 90)) AS distinct_random_parts,
	   count(*) FILTER (WHERE length(k) = 99) AS length_99,
	   count(*) FILTER (WHERE left(k, 3) = CASE WHEN i % 2 = 0 THEN 'sk_' ELSE 'pk_' END) AS prefix_ok,
	   count(*) FILTER (WHERE k ~ '^(sk|pk)_[0-9A-Za-z]{96}$') AS alphabet_ok,
	   count(*) FILTER (WHERE billium_key_is_well_formed(k)) AS well_formed,
	   count(*) FILTER (WHERE right(k, 6) = pg_temp.base62_6(pg_temp.crc32(left(k, 93)))) AS checksum_matches_plpgsql
FROM gen;
-- The 90 random characters use the whole alphabet, evenly: 90,000 characters, about 1,452 of
-- each; a modulo bias (byte % 62) would give the first 8 characters about 1,758.
SELECT count(*) AS characters_used, min(n) > 1250 AS min_ok, max(n) < 1650 AS max_ok
FROM (SELECT c, count(*) AS n
	  FROM gen, LATERAL regexp_split_to_table(substr(k, 4, 90), '') AS c
	  GROUP BY c) AS per_char;
-- Flipping any one character (to the next in the alphabet) breaks the key: each key flipped at
-- a different position, so all 96 body positions are covered; and the prefix is checksummed too.
SELECT count(*) AS flipped,
	   count(*) FILTER (WHERE NOT billium_key_is_well_formed(f)) AS refused,
	   count(DISTINCT pos) AS positions
FROM (SELECT pos, overlay(k PLACING substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
										   strpos('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
												  substr(k, pos, 1)) % 62 + 1, 1) FROM pos FOR 1) AS f
	  FROM (SELECT k, 4 + i % 96 AS pos FROM gen) AS g) AS flips;
SELECT count(*) FILTER (WHERE billium_key_is_well_formed(CASE WHEN left(k, 3) = 'sk_' THEN 'pk_' ELSE 'sk_' END || substr(k, 4)))
	AS prefix_swapped_still_well_formed
FROM gen;
SELECT billium_key_generate('SK') ~ '^sk_[0-9A-Za-z]{96}$' AS type_ignores_case;
SELECT billium_key_generate('rk');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_key_generate('sk_');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_key_generate(NULL) IS NULL AS strict;

------------------------------------------------------------------------------------------------
-- Well-formedness of the literal keys and of near misses (no table is read).
------------------------------------------------------------------------------------------------
SET ROLE regress_billium_app;
SELECT what, billium_key_is_well_formed(k) AS well_formed
FROM (VALUES ('python sk', :'good_sk'),
			 ('python sk, other', :'other_sk'),
			 ('python pk', :'good_pk'),
			 ('python sk, zero-padded checksum', :'padded_sk'),
			 ('checksum unpadded', left(:'padded_sk', 93) || 'bRcRP'),
			 ('checksum off by one', left(:'good_sk', 98) || 'd'),
			 ('prefix sk swapped to pk', 'pk_' || substr(:'good_sk', 4)),
			 ('prefix rk', 'rk_' || substr(:'good_sk', 4)),
			 ('prefix upper case', 'SK_' || substr(:'good_sk', 4)),
			 ('no underscore', 'sk' || substr(:'good_sk', 4)),
			 ('one short', left(:'good_sk', 98)),
			 ('one long', :'good_sk' || 'c'),
			 ('hyphen', overlay(:'good_sk' PLACING '-' FROM 50 FOR 1)),
			 ('trailing space', :'good_sk' || ' '),
			 ('leading space', ' ' || :'good_sk'),
			 ('non-ASCII', overlay(:'good_sk' PLACING 'é' FROM 50 FOR 1)),
			 ('bearer', 'Bearer ' || :'good_sk'),
			 ('prefix only', 'sk_'),
			 ('empty', '')) AS v(what, k);
SELECT billium_key_is_well_formed(NULL) IS NULL AS strict;
-- An application role may not mint keys outside billium_create_api_key; with no principal,
-- row-level security shows it no key, and the hash column is never readable.
SELECT billium_key_generate('sk');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM api_keys;
SELECT key_hash FROM api_keys;
\echo :LAST_ERROR_SQLSTATE
SELECT billium_act_as('b0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- The principal of a transaction.  Each statement here is its own transaction unless in a
-- BEGIN block; nothing carries over.
------------------------------------------------------------------------------------------------
SELECT billium_current_principal() IS NULL AS no_caller;
SELECT billium_principal_permissions('a0000000-0000-0000-0000-0000000000f1') AS nothing;
SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL billium.api_key = '';
SELECT billium_current_principal() IS NULL AS empty_key_is_no_key;
SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

BEGIN;
SET LOCAL billium.api_key = :'good_sk';
SELECT * FROM billium_current_principal();
SELECT * FROM billium_authorize('invoices.list', 'a0000000-0000-0000-0000-0000000000f1');
SELECT billium_principal_permissions('a0000000-0000-0000-0000-0000000000f1') AS own_merchant,
	   billium_principal_permissions('a0000000-0000-0000-0000-0000000000f2') AS other_merchant;
COMMIT;
SELECT billium_current_principal() IS NULL AS nothing_leaked;

SELECT * FROM billium_authenticate(:'good_sk');
SELECT billium_current_principal() IS NULL AS nothing_leaked;
SELECT * FROM billium_key_verify(:'good_sk');

-- PostgREST: the x-api-key request header.
BEGIN;
SELECT set_config('request.headers', json_build_object('user-agent', 'regress', 'x-api-key', :'good_sk')::text, true) IS NOT NULL AS headers_set;
SELECT kind, key_id, permissions FROM billium_current_principal();
SELECT (billium_authorize('products.retrieve', 'a0000000-0000-0000-0000-0000000000f1')).kind;
ROLLBACK;
BEGIN;
SELECT set_config('request.headers', '{"user-agent":"regress"}', true) IS NOT NULL AS headers_set;
SELECT billium_current_principal() IS NULL AS no_header_no_caller;
ROLLBACK;

------------------------------------------------------------------------------------------------
-- Refusals: SQLSTATE 28000 for 401, 42501 for 403, 22023 for an unknown action; DETAIL is the
-- JSON envelope, and never holds the key.
------------------------------------------------------------------------------------------------
SELECT billium_key_verify('sk_short');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_key_verify(left(:'good_sk', 98) || 'd');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_authenticate(:'other_sk');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_authenticate(:'good_pk');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT set_config('request.headers', json_build_object('x-api-key', 'pk_' || substr(:'good_sk', 4))::text, true) IS NOT NULL AS headers_set;
SELECT billium_authorize('invoices.create', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

BEGIN;
SET LOCAL billium.api_key = :'good_sk';
SELECT billium_authorize('invoices.cancel', 'a0000000-0000-0000-0000-0000000000f1') IS NOT NULL AS allowed;
SAVEPOINT s;
SELECT billium_authorize('products.update', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT billium_authorize('invoices.list', 'a0000000-0000-0000-0000-0000000000f2');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT billium_authorize('invoices.fly', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT billium_authorize('', 'a0000000-0000-0000-0000-0000000000f1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the principal survives a rolled-back savepoint
SELECT (billium_current_principal()).key_id;
ROLLBACK;

-- The same refusals caught in PL/pgSQL: the detail parses as one JSON object.
CREATE FUNCTION pg_temp.envelope(sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d::jsonb;
END
$$;
SELECT e->>'status' AS status, e->>'code' AS code, e->>'action' AS action, e->>'required' AS required,
	   jsonb_typeof(e->'message') AS message, strpos(e::text, substr(k, 4, 20)) = 0 AS key_absent
FROM (VALUES
	(:'other_sk', format('SELECT billium_authenticate(%L)', :'other_sk')),
	(:'good_sk', format('SELECT billium_authenticate(%L)', left(:'good_sk', 98) || 'd')),
	(:'good_pk', format('SELECT billium_key_verify(%L)', :'good_pk')),
	(:'good_sk', format('SELECT set_config(''billium.api_key'', %L, true), billium_authorize(''merchants.delete'', ''a0000000-0000-0000-0000-0000000000f1'')', :'good_sk'))
	) AS v(k, sql), LATERAL pg_temp.envelope(sql) AS e;
RESET ROLE;

------------------------------------------------------------------------------------------------
-- The catalogs: errors and actions.
------------------------------------------------------------------------------------------------
SET ROLE regress_billium_app;
SELECT code, http_status, sqlstate, message FROM errors ORDER BY http_status, code;
SELECT count(*) AS codes, count(DISTINCT code) AS distinct_codes FROM errors;
-- Each status has one SQLSTATE.
SELECT http_status, array_agg(DISTINCT sqlstate) AS sqlstates FROM errors GROUP BY http_status ORDER BY 1;
SELECT count(*) AS actions, count(*) FILTER (WHERE NOT secret_only) AS open_to_pk,
	   count(DISTINCT permission) AS permissions_used, count(*) FILTER (WHERE builtin) AS builtin
FROM actions;
SELECT name FROM actions WHERE NOT secret_only ORDER BY name;
SELECT split_part(name, '.', 1) AS resource, count(*) FROM actions GROUP BY 1 ORDER BY 1;
-- Every permission is required by some action, and every action names a real permission.
SELECT p.name AS permission_without_action FROM permissions p
WHERE NOT EXISTS (SELECT FROM actions a WHERE a.permission = p.name);
SELECT a.name AS action_without_permission FROM actions a
WHERE a.permission IS NOT NULL AND NOT EXISTS (SELECT FROM permissions p WHERE p.name = a.permission);
-- The rest are ruled by a team role (0.6.0).
SELECT name, role FROM actions WHERE permission IS NULL ORDER BY name;
-- pk keys reach only actions whose permission the pk cap holds.
SELECT name FROM actions
WHERE NOT secret_only AND NOT billium_has_permission(billium_key_type_cap('pk'), permission);
-- The application role may read the actions but not change them.
INSERT INTO actions (name, permission) VALUES ('invoices.fly', 'invoice:edit');
\echo :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
RESET ROLE;
DELETE FROM merchants WHERE id IN ('a0000000-0000-0000-0000-0000000000f1', 'a0000000-0000-0000-0000-0000000000f2');
DELETE FROM users WHERE id = 'b0000000-0000-0000-0000-0000000000f1';
DROP OWNED BY regress_billium_app;
DROP ROLE regress_billium_app;
