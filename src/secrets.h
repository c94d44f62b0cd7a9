/*
 * secrets.h: where billium's secret and credentials may be set.  billium.jwt_secret is a
 * server-level setting (postgresql.conf, an included file, ALTER SYSTEM); billium.api_key and
 * billium.session are a transaction's own (SET LOCAL, set_config, PostgREST).  None may be stored
 * per role, database or function: those catalogs are readable by every role.
 */
#ifndef BILLIUM_SECRETS_H
#define BILLIUM_SECRETS_H

#include "utils/guc.h"

/* Check hook of billium.api_key and billium.session: refuses a value stored in a catalog. */
extern bool secrets_check_credential(char **newval, void **extra, GucSource source);

/* Once per backend, inside a transaction: warn when a catalog every role reads holds a secret. */
extern void secrets_warn_once(void);

#endif
