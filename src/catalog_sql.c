/*
 * catalog_sql.c: the permission, role and security factor catalogs as set-returning functions,
 * behind the views billium.permissions, billium.roles and billium.security_factors, so the names
 * live only in C.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "catalog_sql.h"
#include "factors.h"
#include "roles.h"

Datum
catalog_srf(FunctionCallInfo fcinfo, int n, CatalogRowFn make_row)
{
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc desc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		funcctx->max_calls = n;
		MemoryContextSwitchTo(oldcontext);
	}
	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr < funcctx->max_calls)
	{
		HeapTuple row = make_row(funcctx->tuple_desc, (int)funcctx->call_cntr);

		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(row));
	}
	SRF_RETURN_DONE(funcctx);
}

static HeapTuple
permission_row(TupleDesc desc, int bit)
{
	Datum values[4];
	bool nulls[4] = {false, false, false, false};

	values[0] = Int32GetDatum(bit);
	values[1] = CStringGetTextDatum(billium_permissions[bit].name);
	values[2] = CStringGetTextDatum(billium_permissions[bit].domain);
	values[3] = CStringGetTextDatum(billium_permissions[bit].description);
	return heap_form_tuple(desc, values, nulls);
}

static HeapTuple
role_row(TupleDesc desc, int index)
{
	const BilliumRole *role = &role_catalog()[index];
	Datum values[2];
	bool nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(role->name);
	values[1] = PermsetGetDatum(role->cap);
	return heap_form_tuple(desc, values, nulls);
}

static HeapTuple
factor_row(TupleDesc desc, int bit)
{
	Datum values[4];
	bool nulls[4] = {false, false, false, false};

	values[0] = Int32GetDatum(bit);
	values[1] = CStringGetTextDatum(billium_factors[bit].name);
	values[2] = CStringGetTextDatum(billium_factors[bit].user_column);
	values[3] = CStringGetTextDatum(billium_factors[bit].enforce_column);
	return heap_form_tuple(desc, values, nulls);
}

/* (bit, name, domain, description) for each permission, in bit order. */
PG_FUNCTION_INFO_V1(billium_permission_catalog);
Datum
billium_permission_catalog(PG_FUNCTION_ARGS)
{
	return catalog_srf(fcinfo, BILLIUM_PERMISSION_COUNT, permission_row);
}

/* (role, permissions) for each team role, from OWNER down. */
PG_FUNCTION_INFO_V1(billium_role_catalog);
Datum
billium_role_catalog(PG_FUNCTION_ARGS)
{
	return catalog_srf(fcinfo, BILLIUM_ROLE_COUNT, role_row);
}

/* (bit, name, user_column, enforce_column) for each security factor, in the envelope's order. */
PG_FUNCTION_INFO_V1(billium_factor_catalog);
Datum
billium_factor_catalog(PG_FUNCTION_ARGS)
{
	return catalog_srf(fcinfo, billium_factor_count, factor_row);
}
