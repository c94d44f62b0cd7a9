/*
 * request.h: billium.request_id, the HTTP request a transaction serves (the gateway's
 * x-request-id), which the audit trail records with every row the transaction writes.
 */
#ifndef BILLIUM_REQUEST_H
#define BILLIUM_REQUEST_H

extern void request_init(void);

#endif
