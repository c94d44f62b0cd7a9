/*
 * permset.h: billium_permset, an 8-byte pass-by-value bitmask over the permission catalog.
 */
#ifndef BILLIUM_PERMSET_H
#define BILLIUM_PERMSET_H

#include "fmgr.h"

#include "catalog.h"

typedef uint64 BilliumPermset;

#define DatumGetPermset(d)	 ((BilliumPermset)DatumGetInt64(d))
#define PermsetGetDatum(p)	 Int64GetDatum((int64)(p))
#define PG_GETARG_PERMSET(n) DatumGetPermset(PG_GETARG_DATUM(n))
#define PG_RETURN_PERMSET(p) return PermsetGetDatum(p)

/* Canonical text form, palloc'd: braces, bit order, no spaces. */
extern char *permset_to_cstring(BilliumPermset set);

/* Comma-separated names, palloc'd, for messages ("invoice:edit, product:view"). */
extern char *permset_to_list(BilliumPermset set);

/*
 * The set named by one token ("invoice:view", "invoice:*", "*"); raises 22P02 with a hint naming
 * the domain's permissions when the token names nothing.
 */
extern BilliumPermset permset_from_token(const char *token, size_t len);

#endif
