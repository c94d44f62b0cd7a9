/*
 * compat.h: what differs between the PostgreSQL versions billium builds against (15 to 18), in
 * one place.  Include it after postgres.h.
 */
#ifndef BILLIUM_COMPAT_H
#define BILLIUM_COMPAT_H

#include "postgres.h"

/* VARDATA_ANY, VARSIZE_ANY_EXHDR and friends moved out of postgres.h into varatt.h in 16. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * 18 replaced the trailing pg_attribute_noreturn() with a leading pg_noreturn (C11 _Noreturn);
 * before 18 the attribute is GCC's, which may lead a declaration too.  Write `pg_noreturn` first.
 */
#if PG_VERSION_NUM < 180000
#define pg_noreturn pg_attribute_noreturn()
#endif

/* 17 moved PGPROC's local transaction id into its virtual transaction id. */
#if PG_VERSION_NUM >= 170000
#define BILLIUM_PROC_LXID(proc) ((proc)->vxid.lxid)
#else
#define BILLIUM_PROC_LXID(proc) ((proc)->lxid)
#endif

#endif
