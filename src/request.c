/*
 * request.c: the billium.request_id setting.  A gateway sets it for each transaction
 * (set_config(..., true)); billium_audit copies it into audit_log.request_id, so an audit row
 * leads back to its HTTP request.  Only short, printable identifiers are accepted: the value
 * lands in a table every auditor reads and in logs.
 */
#include "postgres.h"

#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "compat.h"
#include "request.h"

#define REQUEST_ID_MAX 128
/* A key's body is 96 base62 characters; this many after sk_ or pk_ is already most of a secret. */
#define KEY_FRAGMENT_MIN 16

static char *request_id = NULL;

/*
 * The local transaction in which the value was last set (or restored).  A value set by an
 * earlier transaction, such as a session-level SET left on a pooled connection, names another
 * client's request: billium_request_id() does not hand it to the audit trail.
 */
static LocalTransactionId request_id_lxid = InvalidLocalTransactionId;

static bool
is_base62(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Does the value hold sk_ or pk_ followed by KEY_FRAGMENT_MIN base62 characters, anywhere?  A
 * prefix check alone let "x-sk_..." through; an id such as "task_42" stays acceptable.
 */
static bool
holds_key_fragment(const char *value)
{
	const char *c;
	int run;

	for (c = value; *c != '\0'; c++)
	{
		if ((c[0] != 's' && c[0] != 'p') || c[1] != 'k' || c[2] != '_')
			continue;
		for (run = 0; run < KEY_FRAGMENT_MIN && is_base62(c[3 + run]); run++)
			;
		if (run == KEY_FRAGMENT_MIN)
			return true;
	}
	return false;
}

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
	if (strncmp(*newval, "sk_", 3) == 0 || strncmp(*newval, "pk_", 3) == 0 ||
		holds_key_fragment(*newval))
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

static void
assign_request_id(const char *newval pg_attribute_unused(), void *extra pg_attribute_unused())
{
	request_id_lxid = MyProc != NULL ? BILLIUM_PROC_LXID(MyProc) : InvalidLocalTransactionId;
}

PG_FUNCTION_INFO_V1(billium_request_id);

/* billium.request_id when this transaction set it, else null: what billium_audit records. */
Datum
billium_request_id(PG_FUNCTION_ARGS pg_attribute_unused())
{
	if (request_id == NULL || request_id[0] == '\0' || MyProc == NULL ||
		request_id_lxid == InvalidLocalTransactionId || request_id_lxid != BILLIUM_PROC_LXID(MyProc))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(request_id));
}

void
request_init(void)
{
	DefineCustomStringVariable(
		"billium.request_id", "The HTTP request this transaction serves, for the audit trail.",
		"Set with set_config(..., true) for one transaction; written to audit_log.request_id. "
		"At most 128 letters, digits and - _ . :",
		&request_id, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, check_request_id, assign_request_id, NULL);
}
