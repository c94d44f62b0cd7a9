/*
 * factors.h: the security factors a merchant may require of its dashboard users, written once.
 *
 * Pure C (no server headers).  Each factor is a boolean column of billium.users (does the user
 * have it) and one of billium.merchants (does the merchant require it); factor i is bit i of a
 * "missing" mask, and the table's order is the order of the error envelope's "missing" list.  The
 * queries that compute the mask (lookup.c), the envelope (gate.c) and the SQL view
 * billium.security_factors (catalog_sql.c), which the SQL triggers read, are derived from it.
 * Adding a factor: one row here, and the two columns (sql/tables.sql, an upgrade script, the
 * UPDATE grant on merchants); test/sql/catalog.sql checks the columns against this table.
 */
#ifndef BILLIUM_FACTORS_H
#define BILLIUM_FACTORS_H

typedef struct BilliumFactor
{
	const char *name;			/* as the envelope's "missing" lists it: "googleLogin" */
	const char *user_column;	/* of billium.users: "google_linked" */
	const char *enforce_column; /* of billium.merchants: "enforce_google_login" */
} BilliumFactor;

extern const BilliumFactor billium_factors[];
extern const int billium_factor_count;

#endif
