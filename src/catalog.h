/*
 * catalog.h: the permission catalog, written once.
 *
 * Pure C (no server headers) so that parsers built on it can be fuzzed outside the server.
 * Bit positions follow the order of the spec's Permissions table and are part of the on-disk
 * and binary format of billium_permset: never renumber, only append.
 */
#ifndef BILLIUM_CATALOG_H
#define BILLIUM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum BilliumPermissionBit
{
	BP_MERCHANT_VIEW = 0,
	BP_MERCHANT_EDIT,
	BP_MERCHANT_DELETE,
	BP_MERCHANT_BILLING,
	BP_INVOICE_VIEW,
	BP_INVOICE_CREATE,
	BP_INVOICE_EDIT,
	BP_INVOICE_DELETE,
	BP_PRODUCT_VIEW,
	BP_PRODUCT_CREATE,
	BP_PRODUCT_EDIT,
	BP_PRODUCT_DELETE,
	BP_CUSTOMER_VIEW,
	BP_CUSTOMER_EDIT,
	BP_CUSTOMER_DELETE,
	BP_TEAM_VIEW,
	BP_TEAM_INVITE,
	BP_TEAM_REMOVE,
	BP_TEAM_MANAGE_ROLES,
	BP_API_KEY_VIEW,
	BP_API_KEY_CREATE,
	BP_API_KEY_EDIT,
	BP_API_KEY_DELETE,
	BP_WEBHOOK_VIEW,
	BP_WEBHOOK_CREATE,
	BP_WEBHOOK_EDIT,
	BP_WEBHOOK_DELETE,
	BP_CHECKOUT_VIEW,
	BP_CHECKOUT_EDIT,
	BP_WALLET_VIEW,
	BP_WALLET_CREATE,
	BP_WALLET_EDIT,
	BP_WALLET_DELETE,
	BP_REPORT_VIEW,
	BILLIUM_PERMISSION_COUNT
} BilliumPermissionBit;

#define BILLIUM_DOMAIN_COUNT 10

/* Every bit a valid set may hold; bits 34-63 are reserved and always zero. */
#define BILLIUM_ALL_PERMISSIONS ((UINT64_C(1) << BILLIUM_PERMISSION_COUNT) - 1)
#define BILLIUM_BIT(b)			(UINT64_C(1) << (b))

typedef struct BilliumPermission
{
	const char *name;		 /* "invoice:view" */
	const char *domain;		 /* "invoice" */
	const char *description; /* one line for the catalog view */
} BilliumPermission;

extern const BilliumPermission billium_permissions[BILLIUM_PERMISSION_COUNT];
extern const char *const billium_domains[BILLIUM_DOMAIN_COUNT];

/* Bit of the permission named by name[0..len), or -1. */
extern int billium_permission_lookup(const char *name, size_t len);

/* Mask of every permission in the domain named by name[0..len), or 0 when unknown. */
extern uint64_t billium_domain_mask(const char *name, size_t len);

/* Mask of every permission whose action (the part after ':') equals action. */
extern uint64_t billium_action_mask(const char *action);

/*
 * The views set lacks for its shape: a grant holding a permission of a domain other than its
 * view and its create-like ones (*:create, team:invite) must also hold that domain's view, since
 * writing implies seeing what is written.  0 when set has the shape.
 */
extern uint64_t billium_missing_views(uint64_t set);

#endif
