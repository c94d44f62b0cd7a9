/*
 * xact_end.h: which transaction events end a transaction, for the callbacks that forget what
 * the transaction remembered (the principal, the buckets charged, the keys counted).
 */
#ifndef BILLIUM_XACT_END_H
#define BILLIUM_XACT_END_H

#include "access/xact.h"

/* The top-level transaction has committed, aborted or been prepared. */
static inline bool
xact_event_ends(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			return true;
		default:
			return false;
	}
}

#endif
