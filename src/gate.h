/*
 * gate.h: the request gate and its action catalog.
 */
#ifndef BILLIUM_GATE_H
#define BILLIUM_GATE_H

extern void gate_init(void);

#endif
