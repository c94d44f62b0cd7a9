/*
 * billium.c: the module's entry point.  Each part keeps its own state and settings; _PG_init only
 * calls their initializers.
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
}
