/*
 * secrets.c: a credential (billium.api_key, billium.session) is refused where it would be stored
 * in a catalog every role can read, and a backend warns once when such a catalog holds one, or
 * holds billium.jwt_secret (which PGC_SIGHUP keeps out when billium is preloaded, but a value
 * stored while it was not loaded stays readable).  The values are never read or shown.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"

#include "lookup.h"
#include "secrets.h"

bool
secrets_check_credential(char **newval, void **extra pg_attribute_unused(), GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	/* ALTER ROLE/DATABASE ... SET and CREATE FUNCTION ... SET validate with PGC_S_TEST; a value
	 * stored before billium was loaded comes back from the catalog at connection. */
	if (source == PGC_S_TEST || source == PGC_S_GLOBAL || source == PGC_S_DATABASE ||
		source == PGC_S_USER || source == PGC_S_DATABASE_USER)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("a billium credential cannot be stored for a role, a database or a "
						 "function");
		GUC_check_errdetail("Stored settings are readable by every role in pg_db_role_setting "
							"and pg_proc.proconfig.");
		GUC_check_errhint("Present it with SET LOCAL for one transaction.");
		return false;
	}
	return true;
}

void
secrets_warn_once(void)
{
	static bool checked = false;
	int stored;

	if (checked || !IsTransactionState())
		return;
	checked = true;
	stored = lookup_stored_secret_count();
	if (stored > 0)
		/* The client sees it only when it may act on it. */
		ereport(superuser() ? WARNING : LOG_SERVER_ONLY,
				errmsg("a billium secret or credential is stored in a catalog every role can read"),
				errdetail("%d setting(s) stored per role, database or function can be read in "
						  "pg_db_role_setting, pg_roles.rolconfig or pg_proc.proconfig.",
						  stored),
				errhint("A superuser lists them with SELECT * FROM "
						"billium.billium_check_secret_settings() and removes them with "
						"billium.billium_remove_secret_settings(); then change the secret and "
						"revoke the keys."));
}
