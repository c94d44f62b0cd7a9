/*
 * roles.h: the caps a team role or a key type puts on permissions.
 */
#ifndef BILLIUM_ROLES_H
#define BILLIUM_ROLES_H

#include "permset.h"

#define BILLIUM_ROLE_COUNT 4

typedef struct BilliumRole
{
	const char *name; /* upper case, as stored: "OWNER" */
	BilliumPermset cap;
} BilliumRole;

/* The role's cap; raises 22023 for a name that is no role (matched case-insensitively). */
extern const BilliumRole *role_lookup(const char *name, size_t len);

/* The cap of key type "sk" or "pk"; raises 22023 otherwise. */
extern BilliumPermset key_type_cap(const char *name, size_t len);

/* The roles in order, for the catalog view. */
extern const BilliumRole *role_catalog(void);

#endif
