/*
 * gate.h: the request gate: who is calling, then the rate limit, then the permission.
 */
#ifndef BILLIUM_GATE_H
#define BILLIUM_GATE_H

#include "principal.h"

/*
 * This transaction's caller, its API key charged to the rate limit (429 when its bucket is
 * empty): the first two steps of the gate, which every way in takes (the policies' functions
 * too), so a request is charged whether or not it calls billium_authorize.  action (may be NULL)
 * names the request in an envelope.
 */
extern const Principal *gate_caller(const char *action);

extern void gate_init(void);

#endif
