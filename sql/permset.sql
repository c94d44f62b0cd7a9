/* billium: the permission type, its operators, operator classes, aggregates and casts. */

------------------------------------------------------------------------------------------------
-- The type: an 8-byte bitmask over the 34 permissions, stored like int8 (contrib/isn's model).
------------------------------------------------------------------------------------------------

CREATE TYPE @extschema@.billium_permset;

CREATE FUNCTION @extschema@.billium_permset_in(cstring) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.billium_permset_out(@extschema@.billium_permset) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.billium_permset_recv(internal) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.billium_permset_send(@extschema@.billium_permset) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.billium_permset (
	INPUT = @extschema@.billium_permset_in,
	OUTPUT = @extschema@.billium_permset_out,
	RECEIVE = @extschema@.billium_permset_recv,
	SEND = @extschema@.billium_permset_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE @extschema@.billium_permset IS
	'a set of billium permissions, written {invoice:view,product:view}';

------------------------------------------------------------------------------------------------
-- Comparison and hashing.  The order is by bit value, an arbitrary total order for indexes,
-- sorting and merge joins.  C functions of this module rather than aliases of int8's internal
-- functions: the server resolves an alias by name, each time a query using it starts.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_permset_eq(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_ne(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_lt(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_le(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_gt(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_ge(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_cmp(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_sortsupport(internal)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.billium_permset_hash(@extschema@.billium_permset)
	RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_hash_extended(@extschema@.billium_permset, bigint)
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, MERGES, HASHES
);
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR FAMILY @extschema@.billium_permset_ops USING btree;
CREATE OPERATOR CLASS @extschema@.billium_permset_ops
	DEFAULT FOR TYPE @extschema@.billium_permset USING btree FAMILY @extschema@.billium_permset_ops AS
	OPERATOR 1 @extschema@.<,
	OPERATOR 2 @extschema@.<=,
	OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=,
	OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.billium_permset_cmp(@extschema@.billium_permset, @extschema@.billium_permset),
	FUNCTION 2 @extschema@.billium_permset_sortsupport(internal);

CREATE OPERATOR FAMILY @extschema@.billium_permset_ops USING hash;
CREATE OPERATOR CLASS @extschema@.billium_permset_ops
	DEFAULT FOR TYPE @extschema@.billium_permset USING hash FAMILY @extschema@.billium_permset_ops AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.billium_permset_hash(@extschema@.billium_permset),
	FUNCTION 2 @extschema@.billium_permset_hash_extended(@extschema@.billium_permset, bigint);

------------------------------------------------------------------------------------------------
-- Set algebra.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_permset_or(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS @extschema@.billium_permset AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_and(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS @extschema@.billium_permset AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_minus(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS @extschema@.billium_permset AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_contains(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_contained(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.billium_permset_overlaps(@extschema@.billium_permset, @extschema@.billium_permset)
	RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.billium_permset_or(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'union of two permission sets';
COMMENT ON FUNCTION @extschema@.billium_permset_and(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'intersection of two permission sets';
COMMENT ON FUNCTION @extschema@.billium_permset_minus(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'permissions of the first set that the second lacks';
COMMENT ON FUNCTION @extschema@.billium_permset_contains(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'does the first set hold every permission of the second?';
COMMENT ON FUNCTION @extschema@.billium_permset_contained(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'is every permission of the first set in the second?';
COMMENT ON FUNCTION @extschema@.billium_permset_overlaps(@extschema@.billium_permset, @extschema@.billium_permset)
	IS 'do the sets share a permission?';

CREATE OPERATOR @extschema@.| (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_or, COMMUTATOR = OPERATOR(@extschema@.|)
);
CREATE OPERATOR @extschema@.& (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_and, COMMUTATOR = OPERATOR(@extschema@.&)
);
CREATE OPERATOR @extschema@.- (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_minus
);
CREATE OPERATOR @extschema@.@> (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_contains, COMMUTATOR = OPERATOR(@extschema@.<@),
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR @extschema@.<@ (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_contained, COMMUTATOR = OPERATOR(@extschema@.@>),
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR @extschema@.&& (
	LEFTARG = @extschema@.billium_permset, RIGHTARG = @extschema@.billium_permset,
	FUNCTION = @extschema@.billium_permset_overlaps, COMMUTATOR = OPERATOR(@extschema@.&&),
	RESTRICT = contsel, JOIN = contjoinsel
);

CREATE AGGREGATE @extschema@.billium_permset_union(@extschema@.billium_permset) (
	SFUNC = @extschema@.billium_permset_or, STYPE = @extschema@.billium_permset,
	COMBINEFUNC = @extschema@.billium_permset_or, PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.billium_permset_union(@extschema@.billium_permset)
	IS 'union of the non-null input sets; null when there are none, like bit_or';
CREATE AGGREGATE @extschema@.billium_permset_intersection(@extschema@.billium_permset) (
	SFUNC = @extschema@.billium_permset_and, STYPE = @extschema@.billium_permset,
	COMBINEFUNC = @extschema@.billium_permset_and, PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.billium_permset_intersection(@extschema@.billium_permset)
	IS 'intersection of the non-null input sets; null when there are none, like bit_and';

------------------------------------------------------------------------------------------------
-- Questions a policy asks, and conversions.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_has_permission(@extschema@.billium_permset, text) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_has_permission(@extschema@.billium_permset, text) IS
	'does the set hold the named permission (or all of "domain:*", or all of "*")? unknown names raise 22P02';

CREATE FUNCTION @extschema@.billium_permset_count(@extschema@.billium_permset) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_permset_count(@extschema@.billium_permset) IS
	'number of permissions in the set';

CREATE FUNCTION @extschema@.billium_permset_names(@extschema@.billium_permset) RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_permset_names(@extschema@.billium_permset) IS
	'the permission names of the set, in bit order';

CREATE FUNCTION @extschema@.billium_permset_from_names(text[]) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_permset_from_names(text[]) IS
	'the set of the named permissions (names, "domain:*" or "*")';

CREATE FUNCTION @extschema@.billium_permset_from_bigint(bigint) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_permset_from_bigint(bigint) IS
	'the set whose bits the number holds; bits above 33 raise 22P02';

-- The shape a key or team grant must have (keys.sql, billium_check_grant_shape).
CREATE FUNCTION @extschema@.billium_permset_missing_views(@extschema@.billium_permset)
	RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_permset_missing_views(@extschema@.billium_permset) IS
	'the view permissions the set lacks for the domains it writes in ({} when a key or team grant may have it)';

CREATE CAST (@extschema@.billium_permset AS text[])
	WITH FUNCTION @extschema@.billium_permset_names(@extschema@.billium_permset) AS ASSIGNMENT;
CREATE CAST (text[] AS @extschema@.billium_permset)
	WITH FUNCTION @extschema@.billium_permset_from_names(text[]) AS ASSIGNMENT;
CREATE CAST (@extschema@.billium_permset AS bigint) WITHOUT FUNCTION;
CREATE CAST (bigint AS @extschema@.billium_permset)
	WITH FUNCTION @extschema@.billium_permset_from_bigint(bigint);
