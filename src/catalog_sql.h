/*
 * catalog_sql.h: a set-returning function over a fixed C table, one row per index.
 */
#ifndef BILLIUM_CATALOG_SQL_H
#define BILLIUM_CATALOG_SQL_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"

typedef HeapTuple (*CatalogRowFn)(TupleDesc desc, int index);

/* Each call returns the next of n rows, built by make_row from the row's index. */
extern Datum catalog_srf(FunctionCallInfo fcinfo, int n, CatalogRowFn make_row);

#endif
