/*
 * roles.c: role caps (OWNER, ADMIN, MEMBER, VIEWER) and key-type caps (sk, pk), from the spec's
 * Roles and API key permissions tables.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "compat.h"
#include "roles.h"

#define B(bit) BILLIUM_BIT(BP_##bit)

/* Read + create/edit on core resources, view-only on team, keys and webhooks, no deletes. */
#define MEMBER_CAP                                                                                 \
	(B(MERCHANT_VIEW) | B(INVOICE_VIEW) | B(INVOICE_CREATE) | B(INVOICE_EDIT) | B(PRODUCT_VIEW) |  \
	 B(PRODUCT_CREATE) | B(PRODUCT_EDIT) | B(CUSTOMER_VIEW) | B(CUSTOMER_EDIT) | B(WALLET_VIEW) |  \
	 B(WALLET_CREATE) | B(WALLET_EDIT) | B(TEAM_VIEW) | B(API_KEY_VIEW) | B(WEBHOOK_VIEW))

/* One *:view per domain. */
#define VIEWER_CAP                                                                                 \
	(B(MERCHANT_VIEW) | B(INVOICE_VIEW) | B(PRODUCT_VIEW) | B(CUSTOMER_VIEW) | B(TEAM_VIEW) |      \
	 B(API_KEY_VIEW) | B(WEBHOOK_VIEW) | B(CHECKOUT_VIEW) | B(WALLET_VIEW) | B(REPORT_VIEW))

/* What a browser-side checkout needs, and nothing that lists or cancels. */
#define PUBLIC_KEY_CAP (B(INVOICE_CREATE) | B(INVOICE_VIEW) | B(PRODUCT_VIEW))

static const BilliumRole roles[BILLIUM_ROLE_COUNT] = {
	{"OWNER", BILLIUM_ALL_PERMISSIONS},
	{"ADMIN", BILLIUM_ALL_PERMISSIONS & ~(B(MERCHANT_DELETE) | B(MERCHANT_BILLING))},
	{"MEMBER", MEMBER_CAP},
	{"VIEWER", VIEWER_CAP},
};

const BilliumRole *
role_lookup(const char *name, size_t len)
{
	for (int i = 0; i < BILLIUM_ROLE_COUNT; i++)
		if (strlen(roles[i].name) == len && pg_strncasecmp(roles[i].name, name, len) == 0)
			return &roles[i];
	ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("unknown team role \"%s\"", pnstrdup(name, len)),
			errhint("The roles are OWNER, ADMIN, MEMBER and VIEWER."));
	pg_unreachable();
}

BilliumPermset
key_type_cap(const char *name, size_t len)
{
	if (len == 2 && pg_strncasecmp(name, "sk", 2) == 0)
		return BILLIUM_ALL_PERMISSIONS;
	if (len == 2 && pg_strncasecmp(name, "pk", 2) == 0)
		return PUBLIC_KEY_CAP;
	ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("unknown key type \"%s\"", pnstrdup(name, len)),
			errhint("The key types are sk (secret) and pk (public)."));
	pg_unreachable();
}

const BilliumRole *
role_catalog(void)
{
	return roles;
}

/* billium_role_cap('MEMBER'): the most a member of that role may hold. */
PG_FUNCTION_INFO_V1(billium_role_cap);
Datum
billium_role_cap(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);

	PG_RETURN_PERMSET(role_lookup(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name))->cap);
}

/* billium_key_type_cap('pk'): the most a key of that type may hold. */
PG_FUNCTION_INFO_V1(billium_key_type_cap);
Datum
billium_key_type_cap(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);

	PG_RETURN_PERMSET(key_type_cap(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)));
}
