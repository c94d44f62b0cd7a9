/*
 * request.c: the billium.request_id setting.  A gateway sets it for each transaction
 * (set_config(..., true)); billium_audit copies it into audit_log.request_id, so an audit row
 * leads back to its HTTP request.  Only short, printable identifiers are accepted: the value
 * lands in a table every auditor reads and in logs.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "request.h"

#define REQUEST_ID_MAX 128

static char *request_id = NULL;

static bool
check_request_id(char **newval, void **extra pg_attribute_unused(),
				 GucSource source pg_attribute_unused())
{
	const char *c;

	if (*newval == NULL)
		return true;
	if (strlen(*newval) > REQUEST_ID_MAX)
	{
		GUC_check_errdetail("A request id has at most %d characters.", REQUEST_ID_MAX);
		return false;
	}
	/* A key pasted into the wrong header must not land in the audit trail or the logs. */
	if (strncmp(*newval, "sk_", 3) == 0 || strncmp(*newval, "pk_", 3) == 0)
	{
		GUC_check_errdetail("A request id must not look like an API key.");
		return false;
	}
	for (c = *newval; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			  *c == '-' || *c == '_' || *c == '.' || *c == ':'))
		{
			GUC_check_errdetail("A request id has only letters, digits and - _ . :");
			return false;
		}
	return true;
}

void
request_init(void)
{
	DefineCustomStringVariable(
		"billium.request_id", "The HTTP request this transaction serves, for the audit trail.",
		"Set with set_config(..., true) for one transaction; written to audit_log.request_id. "
		"At most 128 letters, digits and - _ . :",
		&request_id, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, check_request_id, NULL, NULL);
}
