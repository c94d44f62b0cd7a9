/*
 * billium.c: the module's entry point.  Each part keeps its own state and settings; _PG_init only
 * calls their initializers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "cache.h"
#include "errors.h"
#include "gate.h"
#include "keys.h"
#include "principal.h"
#include "ratelimit.h"
#include "request.h"
#include "usage.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
	errors_init();
	principal_init();
	gate_init();
	keys_init();
	cache_init();
	ratelimit_init();
	request_init();
	usage_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("billium");
#else
	EmitWarningsOnPlaceholders("billium");
#endif
}
