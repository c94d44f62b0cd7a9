/*
 * catalog.c: the 34 permissions and 10 domains, in the spec's order.
 */
#include "catalog.h"

#include <string.h>

const BilliumPermission billium_permissions[BILLIUM_PERMISSION_COUNT] = {
	[BP_MERCHANT_VIEW] = {"merchant:view", "merchant", "View the merchant's profile and settings"},
	[BP_MERCHANT_EDIT] = {"merchant:edit", "merchant", "Edit the merchant's profile and settings"},
	[BP_MERCHANT_DELETE] = {"merchant:delete", "merchant", "Delete the merchant"},
	[BP_MERCHANT_BILLING] = {"merchant:billing", "merchant", "Manage the merchant's billing"},
	[BP_INVOICE_VIEW] = {"invoice:view", "invoice", "View invoices"},
	[BP_INVOICE_CREATE] = {"invoice:create", "invoice", "Create invoices"},
	[BP_INVOICE_EDIT] = {"invoice:edit", "invoice", "Edit and cancel invoices"},
	[BP_INVOICE_DELETE] = {"invoice:delete", "invoice", "Delete invoices"},
	[BP_PRODUCT_VIEW] = {"product:view", "product", "View products"},
	[BP_PRODUCT_CREATE] = {"product:create", "product", "Create products"},
	[BP_PRODUCT_EDIT] = {"product:edit", "product", "Edit products"},
	[BP_PRODUCT_DELETE] = {"product:delete", "product", "Delete products"},
	[BP_CUSTOMER_VIEW] = {"customer:view", "customer", "View customers"},
	[BP_CUSTOMER_EDIT] = {"customer:edit", "customer", "Create and edit customers"},
	[BP_CUSTOMER_DELETE] = {"customer:delete", "customer", "Delete customers"},
	[BP_TEAM_VIEW] = {"team:view", "team", "View team members and their roles"},
	[BP_TEAM_INVITE] = {"team:invite", "team", "Invite users to the team"},
	[BP_TEAM_REMOVE] = {"team:remove", "team", "Remove users from the team"},
	[BP_TEAM_MANAGE_ROLES] = {"team:manage_roles", "team", "Change members' roles and grants"},
	[BP_API_KEY_VIEW] = {"api_key:view", "api_key", "View API keys (never their secrets)"},
	[BP_API_KEY_CREATE] = {"api_key:create", "api_key", "Create API keys"},
	[BP_API_KEY_EDIT] = {"api_key:edit", "api_key", "Edit and roll API keys"},
	[BP_API_KEY_DELETE] = {"api_key:delete", "api_key", "Revoke API keys"},
	[BP_WEBHOOK_VIEW] = {"webhook:view", "webhook", "View webhooks"},
	[BP_WEBHOOK_CREATE] = {"webhook:create", "webhook", "Create webhooks"},
	[BP_WEBHOOK_EDIT] = {"webhook:edit", "webhook", "Edit webhooks"},
	[BP_WEBHOOK_DELETE] = {"webhook:delete", "webhook", "Delete webhooks"},
	[BP_CHECKOUT_VIEW] = {"checkout:view", "checkout", "View checkout settings"},
	[BP_CHECKOUT_EDIT] = {"checkout:edit", "checkout", "Edit checkout settings"},
	[BP_WALLET_VIEW] = {"wallet:view", "wallet", "View wallets"},
	[BP_WALLET_CREATE] = {"wallet:create", "wallet", "Create wallets"},
	[BP_WALLET_EDIT] = {"wallet:edit", "wallet", "Edit wallets"},
	[BP_WALLET_DELETE] = {"wallet:delete", "wallet", "Delete wallets"},
	[BP_REPORT_VIEW] = {"report:view", "report", "View reports"},
};

const char *const billium_domains[BILLIUM_DOMAIN_COUNT] = {
	"merchant", "invoice", "product",  "customer", "team",
	"api_key",	"webhook", "checkout", "wallet",   "report",
};

static int
equals_counted(const char *s, const char *counted, size_t len)
{
	return strlen(s) == len && memcmp(s, counted, len) == 0;
}

int
billium_permission_lookup(const char *name, size_t len)
{
	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		if (equals_counted(billium_permissions[bit].name, name, len))
			return bit;
	return -1;
}

uint64_t
billium_domain_mask(const char *name, size_t len)
{
	uint64_t mask = 0;

	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		if (equals_counted(billium_permissions[bit].domain, name, len))
			mask |= BILLIUM_BIT(bit);
	return mask;
}

uint64_t
billium_action_mask(const char *action)
{
	uint64_t mask = 0;

	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
	{
		const char *colon = strchr(billium_permissions[bit].name, ':');

		if (colon != NULL && strcmp(colon + 1, action) == 0)
			mask |= BILLIUM_BIT(bit);
	}
	return mask;
}

/* Does the permission need its domain's view beside it?  Not a view, and not create-like. */
static int
needs_view(int bit)
{
	const char *name = billium_permissions[bit].name;
	const char *action = strchr(name, ':') + 1;

	return strcmp(action, "view") != 0 && strcmp(action, "create") != 0 &&
		   strcmp(name, "team:invite") != 0;
}

/* The bit of the domain's view permission ("<domain>:view"); every domain has one. */
static int
domain_view_bit(int bit)
{
	const char *domain = billium_permissions[bit].domain;

	for (int b = 0; b < BILLIUM_PERMISSION_COUNT; b++)
		if (strcmp(billium_permissions[b].domain, domain) == 0 &&
			strcmp(strchr(billium_permissions[b].name, ':') + 1, "view") == 0)
			return b;
	return -1;
}

uint64_t
billium_missing_views(uint64_t set)
{
	uint64_t missing = 0;

	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
	{
		int view;

		if (!(set & BILLIUM_BIT(bit)) || !needs_view(bit))
			continue;
		view = domain_view_bit(bit);
		if (view >= 0 && !(set & BILLIUM_BIT(view)))
			missing |= BILLIUM_BIT(view);
	}
	return missing;
}
