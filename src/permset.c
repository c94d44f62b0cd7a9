/*
 * permset.c: the billium_permset type: text and binary I/O, set operators, comparison and
 * hashing, casts, and the functions a policy calls per row.  Every SQL function is a C function
 * of this module: declaring them as aliases of the server's int8 functions (as contrib/isn does)
 * makes the server find each alias by name, with a linear search, every time a query using it
 * starts, which profiling showed to dominate short queries and policies.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"

#include "compat.h"
#include "parse_permset.h"
#include "permset.h"

/* Before PostgreSQL 16 every input error is hard; errsave falls back to ereport. */
#if PG_VERSION_NUM < 160000
#define errsave(context, ...)                                                                      \
	do                                                                                             \
	{                                                                                              \
		(void)(context);                                                                           \
		ereport(ERROR, __VA_ARGS__);                                                               \
	} while (0)
#endif

/* "invoice:view, invoice:create, invoice:edit and invoice:delete" style list of one domain. */
static char *
domain_permission_list(const char *domain)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
	{
		if (strcmp(billium_permissions[bit].domain, domain) != 0)
			continue;
		if (list.len > 0)
			appendStringInfoString(&list, ", ");
		appendStringInfoString(&list, billium_permissions[bit].name);
	}
	return list.data;
}

static char *
domain_list(void)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < BILLIUM_DOMAIN_COUNT; i++)
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", billium_domains[i]);
	return list.data;
}

/* The hint for a token that names no permission: the domain's own, or the list of domains. */
static char *
unknown_permission_hint(const char *token, size_t len)
{
	const char *domain = billium_token_domain(token, len);

	if (domain != NULL)
		return psprintf("Valid permissions in domain \"%s\" are %s, or \"%s:*\" for all of them.",
						domain, domain_permission_list(domain), domain);
	return psprintf("Permissions are written domain:action, in the domains %s; \"*\" means all "
					"of them.",
					domain_list());
}

static void
report_parse_error(const char *input, PermsetParseStatus status, const PermsetParseError *error,
				   Node *escontext)
{
	char *token = pnstrdup(error->token, error->token_len);

	switch (status)
	{
		case PERMSET_UNKNOWN_PERMISSION:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: unknown permission "
						   "\"%s\"",
						   token),
					errdetail("The input was \"%s\".", input),
					errhint("%s", unknown_permission_hint(error->token, error->token_len)));
			break;
		case PERMSET_MISSING_OPEN_BRACE:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: \"%s\"", input),
					errdetail("A permission set starts with \"{\"."),
					errhint("Write a set as {invoice:view,product:view}, {invoice:*} or {*}."));
			break;
		case PERMSET_MISSING_CLOSE_BRACE:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: missing \"}\" after "
						   "\"%s\"",
						   token),
					errdetail("The input was \"%s\".", input));
			break;
		case PERMSET_EMPTY_ELEMENT:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: empty element"),
					errdetail("The input was \"%s\".", input),
					errhint("Separate permission names with single commas."));
			break;
		case PERMSET_TRAILING_GARBAGE:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: unexpected \"%s\" "
						   "after \"}\"",
						   token),
					errdetail("The input was \"%s\".", input));
			break;
		case PERMSET_NESTED_BRACE:
			errsave(escontext, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type billium_permset: unexpected \"{\""),
					errdetail("The input was \"%s\".", input),
					errhint("Permission sets do not nest; write {invoice:view,product:view}."));
			break;
		case PERMSET_OK:
			break;
	}
}

BilliumPermset
permset_from_token(const char *token, size_t len)
{
	uint64_t mask;

	if (billium_parse_permission_token(token, len, &mask) != PERMSET_OK)
		ereport(ERROR, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				errmsg("unknown permission \"%s\"", pnstrdup(token, len)),
				errhint("%s", unknown_permission_hint(token, len)));
	return mask;
}

/* Values from recv and casts carry no text to check; their bits are checked instead. */
static BilliumPermset
permset_checked(int64 value)
{
	if (((uint64)value & ~BILLIUM_ALL_PERMISSIONS) != 0)
		ereport(ERROR, errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				errmsg("invalid billium_permset value: " INT64_FORMAT, value),
				errdetail("Only bits 0 to %d name permissions; bits above are reserved.",
						  BILLIUM_PERMISSION_COUNT - 1));
	return (BilliumPermset)value;
}

char *
permset_to_cstring(BilliumPermset set)
{
	StringInfoData out;
	bool first = true;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
	{
		if ((set & BILLIUM_BIT(bit)) == 0)
			continue;
		if (!first)
			appendStringInfoChar(&out, ',');
		appendStringInfoString(&out, billium_permissions[bit].name);
		first = false;
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

char *
permset_to_list(BilliumPermset set)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		if (set & BILLIUM_BIT(bit))
			appendStringInfo(&out, "%s%s", out.len > 0 ? ", " : "", billium_permissions[bit].name);
	return out.data;
}

/* Text input: '{invoice:view, product:*}'. */
PG_FUNCTION_INFO_V1(billium_permset_in);
Datum
billium_permset_in(PG_FUNCTION_ARGS)
{
	char *input = PG_GETARG_CSTRING(0);
	uint64_t mask;
	PermsetParseError error;
	PermsetParseStatus status = billium_parse_permset(input, &mask, &error);

	if (status != PERMSET_OK)
	{
		report_parse_error(input, status, &error, fcinfo->context);
		PG_RETURN_NULL();
	}
	PG_RETURN_PERMSET(mask);
}

/* Text output: canonical, bit order. */
PG_FUNCTION_INFO_V1(billium_permset_out);
Datum
billium_permset_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(permset_to_cstring(PG_GETARG_PERMSET(0)));
}

/* Binary input: one big-endian int64, reserved bits refused. */
PG_FUNCTION_INFO_V1(billium_permset_recv);
Datum
billium_permset_recv(PG_FUNCTION_ARGS)
{
	StringInfo buf = (StringInfo)PG_GETARG_POINTER(0);

	PG_RETURN_PERMSET(permset_checked(pq_getmsgint64(buf)));
}

/* Binary output: one big-endian int64. */
PG_FUNCTION_INFO_V1(billium_permset_send);
Datum
billium_permset_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, (int64)PG_GETARG_PERMSET(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Bits 34-63 are always zero, so the sets order the same as unsigned and signed numbers. */
static int
permset_cmp_internal(BilliumPermset a, BilliumPermset b)
{
	return a < b ? -1 : (a > b ? 1 : 0);
}

#define PERMSET_COMPARISON(fname, test)                                                            \
	PG_FUNCTION_INFO_V1(fname);                                                                    \
	Datum fname(PG_FUNCTION_ARGS)                                                                  \
	{                                                                                              \
		PG_RETURN_BOOL(permset_cmp_internal(PG_GETARG_PERMSET(0), PG_GETARG_PERMSET(1)) test);     \
	}

/* a = b, a <> b, and the orderings, for btree and hash operator classes. */
PERMSET_COMPARISON(billium_permset_eq, == 0)
PERMSET_COMPARISON(billium_permset_ne, != 0)
PERMSET_COMPARISON(billium_permset_lt, < 0)
PERMSET_COMPARISON(billium_permset_le, <= 0)
PERMSET_COMPARISON(billium_permset_gt, > 0)
PERMSET_COMPARISON(billium_permset_ge, >= 0)

/* btree support 1: three-way comparison. */
PG_FUNCTION_INFO_V1(billium_permset_cmp);
Datum
billium_permset_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(permset_cmp_internal(PG_GETARG_PERMSET(0), PG_GETARG_PERMSET(1)));
}

static int
permset_fastcmp(Datum a, Datum b, SortSupport ssup pg_attribute_unused())
{
	return permset_cmp_internal(DatumGetPermset(a), DatumGetPermset(b));
}

/* btree support 2: sort support, comparing without a function call per pair. */
PG_FUNCTION_INFO_V1(billium_permset_sortsupport);
Datum
billium_permset_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport)PG_GETARG_POINTER(0);

	ssup->comparator = permset_fastcmp;
	PG_RETURN_VOID();
}

/* hash support 1 and 2: int8's hash of the same value. */
PG_FUNCTION_INFO_V1(billium_permset_hash);
Datum
billium_permset_hash(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(hashint8, PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(billium_permset_hash_extended);
Datum
billium_permset_hash_extended(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall2(hashint8extended, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
}

/* a | b: union. */
PG_FUNCTION_INFO_V1(billium_permset_or);
Datum
billium_permset_or(PG_FUNCTION_ARGS)
{
	PG_RETURN_PERMSET(PG_GETARG_PERMSET(0) | PG_GETARG_PERMSET(1));
}

/* a & b: intersection. */
PG_FUNCTION_INFO_V1(billium_permset_and);
Datum
billium_permset_and(PG_FUNCTION_ARGS)
{
	PG_RETURN_PERMSET(PG_GETARG_PERMSET(0) & PG_GETARG_PERMSET(1));
}

/* a - b: the permissions of a that b lacks. */
PG_FUNCTION_INFO_V1(billium_permset_minus);
Datum
billium_permset_minus(PG_FUNCTION_ARGS)
{
	PG_RETURN_PERMSET(PG_GETARG_PERMSET(0) & ~PG_GETARG_PERMSET(1));
}

/* a @> b: a holds every permission of b. */
PG_FUNCTION_INFO_V1(billium_permset_contains);
Datum
billium_permset_contains(PG_FUNCTION_ARGS)
{
	BilliumPermset b = PG_GETARG_PERMSET(1);

	PG_RETURN_BOOL((PG_GETARG_PERMSET(0) & b) == b);
}

/* a <@ b: every permission of a is in b. */
PG_FUNCTION_INFO_V1(billium_permset_contained);
Datum
billium_permset_contained(PG_FUNCTION_ARGS)
{
	BilliumPermset a = PG_GETARG_PERMSET(0);

	PG_RETURN_BOOL((a & PG_GETARG_PERMSET(1)) == a);
}

/* a && b: the sets share a permission. */
PG_FUNCTION_INFO_V1(billium_permset_overlaps);
Datum
billium_permset_overlaps(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL((PG_GETARG_PERMSET(0) & PG_GETARG_PERMSET(1)) != 0);
}

/* Number of permissions in the set. */
PG_FUNCTION_INFO_V1(billium_permset_count);
Datum
billium_permset_count(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pg_popcount64(PG_GETARG_PERMSET(0)));
}

/* The domain views the set lacks for its shape (catalog.h): {} when it has the shape. */
PG_FUNCTION_INFO_V1(billium_permset_missing_views);
Datum
billium_permset_missing_views(PG_FUNCTION_ARGS)
{
	PG_RETURN_PERMSET(billium_missing_views(PG_GETARG_PERMSET(0)));
}

/* The set as text[] in bit order; also the cast to text[]. */
PG_FUNCTION_INFO_V1(billium_permset_names);
Datum
billium_permset_names(PG_FUNCTION_ARGS)
{
	BilliumPermset set = PG_GETARG_PERMSET(0);
	Datum elems[BILLIUM_PERMISSION_COUNT];
	int n = 0;

	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		if (set & BILLIUM_BIT(bit))
			elems[n++] = CStringGetTextDatum(billium_permissions[bit].name);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The cast from text[]: each element a name, "domain:*" or "*"; NULL elements refused. */
PG_FUNCTION_INFO_V1(billium_permset_from_names);
Datum
billium_permset_from_names(PG_FUNCTION_ARGS)
{
	ArrayType *names = PG_GETARG_ARRAYTYPE_P(0);
	Datum *elems;
	bool *nulls;
	int n;
	BilliumPermset set = 0;

	if (ARR_NDIM(names) > 1)
		ereport(ERROR, errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				errmsg("permission names must be a one-dimensional array"));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text *name;

		if (nulls[i])
			ereport(ERROR, errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					errmsg("permission names must not be null"));
		name = DatumGetTextPP(elems[i]);
		set |= permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	}
	PG_RETURN_PERMSET(set);
}

/* The explicit cast from bigint: reserved bits refused. */
PG_FUNCTION_INFO_V1(billium_permset_from_bigint);
Datum
billium_permset_from_bigint(PG_FUNCTION_ARGS)
{
	PG_RETURN_PERMSET(permset_checked(PG_GETARG_INT64(0)));
}

/*
 * The last permission name a call site asked about, kept in fn_extra: a policy asks the same
 * name for every row, and looking it up once keeps the per-row cost at a single AND.
 */
typedef struct PermissionNameCache
{
	BilliumPermset mask;
	Size len;	   /* length of name */
	Size capacity; /* bytes allocated for name */
	char name[FLEXIBLE_ARRAY_MEMBER];
} PermissionNameCache;

static BilliumPermset
cached_permission_mask(FmgrInfo *flinfo, text *name)
{
	const char *data = VARDATA_ANY(name);
	Size len = VARSIZE_ANY_EXHDR(name);
	PermissionNameCache *cache = (PermissionNameCache *)flinfo->fn_extra;

	if (cache != NULL && cache->len == len && memcmp(cache->name, data, len) == 0)
		return cache->mask;

	/* Look up first, so an unknown name leaves the cache as it was. */
	{
		BilliumPermset mask = permset_from_token(data, len);

		if (cache == NULL || cache->capacity < len)
		{
			Size capacity = Max(len, 32);

			cache =
				MemoryContextAlloc(flinfo->fn_mcxt, offsetof(PermissionNameCache, name) + capacity);
			cache->capacity = capacity;
		}
		cache->mask = mask;
		cache->len = len;
		memcpy(cache->name, data, len);
		flinfo->fn_extra = cache;
		return mask;
	}
}

/* billium_has_permission(set, 'invoice:view'): unknown names raise 22P02, never a silent false. */
PG_FUNCTION_INFO_V1(billium_has_permission);
Datum
billium_has_permission(PG_FUNCTION_ARGS)
{
	BilliumPermset set = PG_GETARG_PERMSET(0);
	BilliumPermset wanted = cached_permission_mask(fcinfo->flinfo, PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL((set & wanted) == wanted);
}
