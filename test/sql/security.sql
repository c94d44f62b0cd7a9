-- Install and upgrade scripts, and the functions they create, against search_path hijacking
-- (CVE-2018-1058, CVE-2022-2625), as contrib's seg/sql/security.sql tests it (issue 7).
--
-- An unprivileged role that may create objects in schema public plants functions and operators
-- there that would capture an unqualified call made by the scripts or by billium's functions:
-- each records that it ran, and as whom, then behaves like the real one (so a capture is
-- silent, as an attacker would want it, and only the record shows it).  The superuser then
-- installs 0.1.0 with search_path = public, pg_catalog (pg_catalog last, so a planted object
-- wins over the built-in one), the attacker adds operators on billium_permset, the extension is
-- updated through every version, and an application role and the superuser exercise the main
-- functions with that search_path.  No hostile object may ever run.  At the end the extension is
-- reinstalled at its default version, with the test-only billium_test, as pg_regress created them.
SET client_min_messages = warning;
DROP EXTENSION billium_test, billium;
RESET client_min_messages;
CREATE ROLE regress_sec_attacker;
CREATE ROLE regress_sec_app;
GRANT CREATE ON SCHEMA public TO regress_sec_attacker;

SET ROLE regress_sec_attacker;
CREATE TABLE public.hostile_calls (name text, called_by name);
GRANT INSERT ON public.hostile_calls TO PUBLIC;
CREATE FUNCTION public.hostile(name text) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO public.hostile_calls VALUES (name, pg_catalog.current_user()) $$;
GRANT EXECUTE ON FUNCTION public.hostile(text) TO PUBLIC;

-- Functions the scripts and billium's SQL functions call.
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('lower(text)'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION public.upper(text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('upper(text)'); RETURN pg_catalog.upper($1); END $$;
CREATE FUNCTION public.length(text) RETURNS integer LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('length(text)'); RETURN pg_catalog.length($1); END $$;
CREATE FUNCTION public.length(bytea) RETURNS integer LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('length(bytea)'); RETURN pg_catalog.length($1); END $$;
CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('sha256(bytea)'); RETURN pg_catalog.sha256($1); END $$;
CREATE FUNCTION public.convert_to(text, name) RETURNS bytea LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('convert_to(text,name)'); RETURN pg_catalog.convert_to($1, $2); END $$;
CREATE FUNCTION public.substr(text, integer, integer) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('substr(text,int,int)'); RETURN pg_catalog.substr($1, $2, $3); END $$;
CREATE FUNCTION public.right(text, integer) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('right(text,int)'); RETURN pg_catalog.right($1, $2); END $$;
CREATE FUNCTION public.strpos(text, text) RETURNS integer LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('strpos(text,text)'); RETURN pg_catalog.strpos($1, $2); END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('gen_random_uuid()'); RETURN pg_catalog.gen_random_uuid(); END $$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('current_setting(text)'); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION public.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('pg_has_role(name,oid,text)'); RETURN pg_catalog.pg_has_role($1, $2, $3); END $$;
CREATE FUNCTION public.jsonb_build_object(text, text[], text, text) RETURNS jsonb LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('jsonb_build_object'); RETURN pg_catalog.jsonb_build_object($1, $2, $3, $4); END $$;
CREATE FUNCTION public.hostile_text_agg(s text, v text, d text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('string_agg(text,text)'); RETURN pg_catalog.concat_ws(d, s, v); END $$;
CREATE AGGREGATE public.string_agg(text, text) (SFUNC = public.hostile_text_agg, STYPE = text);
CREATE FUNCTION public.hostile_uuid_agg(s uuid[], v uuid) RETURNS uuid[] LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('array_agg(uuid)'); RETURN pg_catalog.array_append(s, v); END $$;
CREATE AGGREGATE public.array_agg(uuid) (SFUNC = public.hostile_uuid_agg, STYPE = uuid[]);

-- Operators on built-in types.
CREATE FUNCTION public.hostile_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('=(uuid,uuid)'); RETURN pg_catalog.uuid_eq($1, $2); END $$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.hostile_uuid_eq);
CREATE FUNCTION public.hostile_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('=(text,text)'); RETURN pg_catalog.texteq($1, $2); END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_eq);
CREATE FUNCTION public.hostile_text_ne(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('<>(text,text)'); RETURN pg_catalog.textne($1, $2); END $$;
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_ne);
CREATE FUNCTION public.hostile_text_re(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('~(text,text)'); RETURN pg_catalog.textregexeq($1, $2); END $$;
CREATE OPERATOR public.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_re);
CREATE FUNCTION public.hostile_text_cat(text, text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('||(text,text)'); RETURN pg_catalog.textcat($1, $2); END $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_cat);
CREATE FUNCTION public.hostile_int_gt(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('>(int,int)'); RETURN pg_catalog.int4gt($1, $2); END $$;
CREATE OPERATOR public.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.hostile_int_gt);
CREATE FUNCTION public.hostile_ts_le(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM public.hostile('<=(timestamptz,timestamptz)'); RETURN pg_catalog.timestamptz_le($1, $2); END $$;
CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.hostile_ts_le);
RESET ROLE;

-- The traps are armed: with pg_catalog last, unqualified calls reach them (undone).
SET search_path = public, pg_catalog;
BEGIN;
SELECT lower('ARMED') AS lowered, 'a'::text = 'a'::text AS equal, gen_random_uuid() IS NOT NULL AS uuid;
SELECT name, called_by FROM public.hostile_calls ORDER BY name COLLATE "C";
ROLLBACK;
RESET search_path;

------------------------------------------------------------------------------------------------
-- Install the first version with the planted objects ahead of pg_catalog.
------------------------------------------------------------------------------------------------
SET search_path = public, pg_catalog;
CREATE EXTENSION billium VERSION '0.1.0';

-- Now that the type exists, operators on it, as the seg test plants one between install and
-- update.
SET ROLE regress_sec_attacker;
CREATE FUNCTION public.hostile_permset_eq(billium.billium_permset, billium.billium_permset) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.hostile('=(permset,permset)'); RETURN $1::bigint OPERATOR(pg_catalog.=) $2::bigint; END $$;
CREATE OPERATOR public.= (LEFTARG = billium.billium_permset, RIGHTARG = billium.billium_permset,
						  FUNCTION = public.hostile_permset_eq);
CREATE FUNCTION public.hostile_permset_ne(billium.billium_permset, billium.billium_permset) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.hostile('<>(permset,permset)'); RETURN $1::bigint OPERATOR(pg_catalog.<>) $2::bigint; END $$;
CREATE OPERATOR public.<> (LEFTARG = billium.billium_permset, RIGHTARG = billium.billium_permset,
						   FUNCTION = public.hostile_permset_ne);
CREATE FUNCTION public.hostile_permset_and(billium.billium_permset, billium.billium_permset) RETURNS billium.billium_permset
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.hostile('&(permset,permset)'); RETURN ($1::bigint OPERATOR(pg_catalog.&) $2::bigint)::billium.billium_permset; END $$;
CREATE OPERATOR public.& (LEFTARG = billium.billium_permset, RIGHTARG = billium.billium_permset,
						  FUNCTION = public.hostile_permset_and);
CREATE FUNCTION public.hostile_permset_minus(billium.billium_permset, billium.billium_permset) RETURNS billium.billium_permset
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.hostile('-(permset,permset)'); RETURN ($1::bigint OPERATOR(pg_catalog.&) OPERATOR(pg_catalog.~) $2::bigint)::billium.billium_permset; END $$;
CREATE OPERATOR public.- (LEFTARG = billium.billium_permset, RIGHTARG = billium.billium_permset,
						  FUNCTION = public.hostile_permset_minus);
CREATE FUNCTION public.hostile_permset_contained(billium.billium_permset, billium.billium_permset) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.hostile('<@(permset,permset)'); RETURN true; END $$;
CREATE OPERATOR public.<@ (LEFTARG = billium.billium_permset, RIGHTARG = billium.billium_permset,
						   FUNCTION = public.hostile_permset_contained);
RESET ROLE;

-- Update through every version there is, one step at a time.
DO $$
DECLARE
	v text;
BEGIN
	FOR v IN SELECT version FROM pg_catalog.pg_available_extension_versions
			 WHERE name OPERATOR(pg_catalog.=) 'billium'
			 ORDER BY pg_catalog.string_to_array(version, '.')::pg_catalog.int4[] LOOP
		IF pg_catalog.string_to_array(v, '.')::pg_catalog.int4[] OPERATOR(pg_catalog.>)
		   pg_catalog.string_to_array((SELECT extversion FROM pg_catalog.pg_extension
									   WHERE extname OPERATOR(pg_catalog.=) 'billium'), '.')::pg_catalog.int4[] THEN
			EXECUTE pg_catalog.format('ALTER EXTENSION billium UPDATE TO %L', v);
		END IF;
	END LOOP;
END
$$;
-- The test-only fixtures (billium_test), installed with the same search_path.
CREATE EXTENSION billium_test;
SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'billium')
	   OPERATOR(pg_catalog.=) (SELECT version FROM pg_catalog.pg_available_extension_versions
							   WHERE name OPERATOR(pg_catalog.=) 'billium'
							   ORDER BY pg_catalog.string_to_array(version, '.')::pg_catalog.int4[] DESC LIMIT 1)
	   AS at_newest_version;
SELECT name, called_by FROM public.hostile_calls;

------------------------------------------------------------------------------------------------
-- Use it with the same search_path: an application role granted billium_api and billium_admin,
-- and the superuser.  Every name below is qualified, so only billium's own code could reach a
-- planted object.
------------------------------------------------------------------------------------------------
GRANT billium_api, billium_admin TO regress_sec_app;
CREATE SCHEMA regress_sec_shop AUTHORIZATION regress_sec_app;
SET ROLE regress_sec_app;
SELECT merchant_id AS m, owner_id AS owner FROM billium.billium_test_merchant('security', 'owner@security.regress') \gset
SELECT billium.billium_test_member(:'m', 'viewer@security.regress', 'viewer') AS viewer \gset
SELECT billium.billium_test_key(:'m', 'SK', '{*}') AS sk \gset

-- A key: the gate, key management, row-level security.
BEGIN;
SELECT pg_catalog.set_config('billium.api_key', :'sk', true) IS NOT NULL AS key_set;
SELECT kind, key_type, billium.billium_permset_count(permissions) AS permissions
FROM billium.billium_authorize('invoices.list', :'m');
INSERT INTO billium.invoices (merchant_id, amount) VALUES (:'m', 100), (:'m', 250);
SELECT pg_catalog.count(*) AS invoices FROM billium.invoices;
SELECT pg_catalog.sum(sum) AS report_sum FROM billium.reports;
SELECT id AS pk_id FROM billium.billium_create_api_key(:'m', 'PK', '{invoice:view}', 'security pk', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) '1 day') \gset
SELECT billium.billium_update_api_key(:'pk_id', '{invoice:view,invoice:create}', 'renamed');
SELECT step, name, permissions FROM billium.billium_explain_key(:'pk_id');
SELECT pg_catalog.length(api_key) AS rolled_length FROM billium.billium_roll_api_key(:'pk_id', '1 hour');
SELECT billium.billium_revoke_api_key(:'pk_id');
SELECT name, hint IS NOT NULL AS has_hint FROM billium.api_keys ORDER BY name COLLATE "C";
COMMIT;

-- A dashboard user: a new merchant, the team, the security flags, ownership.
BEGIN;
SELECT kind FROM billium.billium_act_as(:'owner');
SELECT billium.billium_create_merchant('security two') IS NOT NULL AS merchant_created;
UPDATE billium.team_members SET role = 'member' WHERE user_id OPERATOR(pg_catalog.=) :'viewer'::uuid;
UPDATE billium.merchants SET enforce_tfa = true WHERE id OPERATOR(pg_catalog.=) :'m'::uuid;
SELECT billium.billium_transfer_ownership(:'m', :'viewer');
SELECT category, action FROM billium.audit_log ORDER BY id;
COMMIT;

-- A table of the app's own, protected and unprotected.
CREATE TABLE regress_sec_shop.orders (merchant_id uuid NOT NULL, total bigint);
SELECT billium.billium_protect_table('regress_sec_shop.orders', 'invoice');
BEGIN;
SELECT pg_catalog.set_config('billium.api_key', :'sk', true) IS NOT NULL AS key_set;
INSERT INTO regress_sec_shop.orders VALUES (:'m', 5);
SELECT pg_catalog.count(*) AS orders FROM regress_sec_shop.orders;
COMMIT;
SELECT policy FROM billium.billium_protect_policies('regress_sec_shop.orders');
SELECT billium.billium_unprotect_table('regress_sec_shop.orders');
RESET ROLE;

-- And the superuser's own calls.
SELECT billium.billium_key_is_well_formed(:'sk') AS well_formed,
	   billium.billium_permset_count(billium.billium_role_cap('admin')) AS admin_cap,
	   billium.billium_has_permission('{invoice:*}', 'invoice:edit') AS has_edit;
SELECT pg_catalog.count(*) AS permissions FROM billium.permissions;

-- No planted object ever ran.
SELECT name, called_by FROM public.hostile_calls;

------------------------------------------------------------------------------------------------
-- Restore: the extension at its default version, nothing of this test left.
------------------------------------------------------------------------------------------------
RESET search_path;
DROP SCHEMA regress_sec_shop CASCADE;
DROP OWNED BY regress_sec_attacker;		-- its operators on billium_permset first
SET client_min_messages = warning;
DROP EXTENSION billium_test, billium;
RESET client_min_messages;
CREATE EXTENSION billium;
CREATE EXTENSION billium_test;
DROP OWNED BY regress_sec_app;
DROP ROLE regress_sec_attacker;
DROP ROLE regress_sec_app;
