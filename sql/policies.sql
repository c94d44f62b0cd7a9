/* billium: the row-level security policies of the extension's tables, generated from one declared
 * table (billium.policy_rules), and the reports view. */

------------------------------------------------------------------------------------------------
-- Policies from one declared table.  Each row: a policy on a table of the extension, the
-- command, the permission it needs (null: refused), the column holding the merchant, the column
-- holding a pk key's own rows (pk keys then see only those, never the merchant's list), an
-- extra row filter, and the API actions that reach the table through this command (the test
-- gate_rls_agree checks them against billium.actions; billium_postgrest_action maps a request
-- to the first of them, or to the list/retrieve pair of a view policy).  A view policy also lets
-- a caller holding the table's insert permission but not its view permission see the row its own
-- INSERT ... RETURNING is checking (a row not yet stored: no ctid), and nothing else.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.policy_rules (
	tbl name NOT NULL,
	policy name NOT NULL,
	command text NOT NULL CHECK (command IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')),
	permission text CHECK (permission IS NULL OR @extschema@.billium_permset_count(
		@extschema@.billium_permset_from_names(ARRAY[permission])) = 1),
	merchant_column name NOT NULL DEFAULT 'merchant_id',
	own_rows_column name,
	row_filter text,
	actions text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (tbl, policy)
);
COMMENT ON TABLE @extschema@.policy_rules IS
	'every row-level security policy of the extension: (table, command) -> the permission it needs, the merchant column, the pk own-rows column, and the API actions it serves';
GRANT SELECT ON @extschema@.policy_rules TO PUBLIC;

INSERT INTO @extschema@.policy_rules (tbl, policy, command, permission, merchant_column, own_rows_column, row_filter, actions) VALUES
	('merchants', 'merchants_view', 'SELECT', 'merchant:view', 'id', NULL, NULL, '{merchants.retrieve}'),
	('merchants', 'merchants_edit', 'UPDATE', 'merchant:edit', 'id', NULL, NULL, '{merchants.update}'),
	('merchants', 'merchants_delete', 'DELETE', 'merchant:delete', 'id', NULL, NULL, '{merchants.delete}'),
	('merchant_billing', 'merchant_billing_view', 'SELECT', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.retrieve}'),
	('merchant_billing', 'merchant_billing_create', 'INSERT', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('merchant_billing', 'merchant_billing_edit', 'UPDATE', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('merchant_billing', 'merchant_billing_delete', 'DELETE', 'merchant:billing', 'merchant_id', NULL, NULL, '{billing.update}'),
	('invoices', 'invoices_view', 'SELECT', 'invoice:view', 'merchant_id', 'created_by_key', NULL, '{invoices.retrieve,invoices.list}'),
	('invoices', 'invoices_create', 'INSERT', 'invoice:create', 'merchant_id', NULL, NULL, '{invoices.create}'),
	('invoices', 'invoices_edit', 'UPDATE', 'invoice:edit', 'merchant_id', NULL, NULL, '{invoices.update,invoices.cancel}'),
	('invoices', 'invoices_delete', 'DELETE', 'invoice:delete', 'merchant_id', NULL, NULL, '{invoices.delete}'),
	('products', 'products_view', 'SELECT', 'product:view', 'merchant_id', NULL, NULL, '{products.retrieve,products.list}'),
	('products', 'products_create', 'INSERT', 'product:create', 'merchant_id', NULL, NULL, '{products.create}'),
	('products', 'products_edit', 'UPDATE', 'product:edit', 'merchant_id', NULL, NULL, '{products.update}'),
	('products', 'products_delete', 'DELETE', 'product:delete', 'merchant_id', NULL, NULL, '{products.delete}'),
	-- customer: there is no customer:create; customer:edit creates and edits.
	('customers', 'customers_view', 'SELECT', 'customer:view', 'merchant_id', NULL, NULL, '{customers.retrieve,customers.list}'),
	('customers', 'customers_create', 'INSERT', 'customer:edit', 'merchant_id', NULL, NULL, '{customers.create}'),
	('customers', 'customers_edit', 'UPDATE', 'customer:edit', 'merchant_id', NULL, NULL, '{customers.update}'),
	('customers', 'customers_delete', 'DELETE', 'customer:delete', 'merchant_id', NULL, NULL, '{customers.delete}'),
	('webhooks', 'webhooks_view', 'SELECT', 'webhook:view', 'merchant_id', NULL, NULL, '{webhooks.retrieve,webhooks.list}'),
	('webhooks', 'webhooks_create', 'INSERT', 'webhook:create', 'merchant_id', NULL, NULL, '{webhooks.create}'),
	('webhooks', 'webhooks_edit', 'UPDATE', 'webhook:edit', 'merchant_id', NULL, NULL, '{webhooks.update}'),
	('webhooks', 'webhooks_delete', 'DELETE', 'webhook:delete', 'merchant_id', NULL, NULL, '{webhooks.delete}'),
	-- checkout: view, and edit for every write.
	('checkout_settings', 'checkout_settings_view', 'SELECT', 'checkout:view', 'merchant_id', NULL, NULL, '{checkout.retrieve}'),
	('checkout_settings', 'checkout_settings_create', 'INSERT', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('checkout_settings', 'checkout_settings_edit', 'UPDATE', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('checkout_settings', 'checkout_settings_delete', 'DELETE', 'checkout:edit', 'merchant_id', NULL, NULL, '{checkout.update}'),
	('wallets', 'wallets_view', 'SELECT', 'wallet:view', 'merchant_id', NULL, NULL, '{wallets.retrieve,wallets.list}'),
	('wallets', 'wallets_create', 'INSERT', 'wallet:create', 'merchant_id', NULL, NULL, '{wallets.create}'),
	('wallets', 'wallets_edit', 'UPDATE', 'wallet:edit', 'merchant_id', NULL, NULL, '{wallets.update}'),
	('wallets', 'wallets_delete', 'DELETE', 'wallet:delete', 'merchant_id', NULL, NULL, '{wallets.delete}'),
	('team_members', 'team_members_view', 'SELECT', 'team:view', 'merchant_id', NULL, NULL, '{team.list,team.retrieve}'),
	('team_members', 'team_members_invite', 'INSERT', 'team:invite', 'merchant_id', NULL, NULL, '{team.invite}'),
	('team_members', 'team_members_manage_roles', 'UPDATE', 'team:manage_roles', 'merchant_id', NULL, NULL, '{team.update_role}'),
	('team_members', 'team_members_remove', 'DELETE', 'team:remove', 'merchant_id', NULL, NULL, '{team.remove}'),
	-- api_keys: readable (every column but key_hash); written only by the key functions.
	('api_keys', 'api_keys_view', 'SELECT', 'api_key:view', 'merchant_id', NULL, NULL, '{api_keys.list,api_keys.retrieve}'),
	-- The audit trail: key events need api_key:view, team and security events team:view.
	('audit_log', 'audit_log_view', 'SELECT', 'api_key:view', 'merchant_id', NULL,
	 'category OPERATOR(pg_catalog.=) ''api_key''', '{}'),
	('audit_log', 'audit_log_view_team', 'SELECT', 'team:view', 'merchant_id', NULL,
	 'category OPERATOR(pg_catalog.<>) ''api_key''', '{}');

-- merchants: no INSERT policy; billium_create_merchant opens them.  users: users_view below,
-- by hand (not by merchant).  Every other table of the extension: no policy, so an ordinary
-- role sees and changes nothing.

-- The text of one policy: FOR <command> USING (...) [WITH CHECK (...)].  Every question to
-- billium is wrapped as (SELECT billium_...(...)), an InitPlan run once per statement, and the
-- merchant column stays indexable.  create_permission: for a view policy, the table's insert
-- permission (see above).
CREATE FUNCTION @extschema@.billium_policy_clause(command text, permission text, merchant_column name,
		own_rows_column name DEFAULT NULL, row_filter text DEFAULT NULL, create_permission text DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	qual text;
BEGIN
	IF permission IS NULL THEN
		qual := 'false';
	ELSE
		qual := format('%I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.%s(%L))::pg_catalog.uuid[])',
					   merchant_column,
					   CASE WHEN command = 'SELECT' AND own_rows_column IS NOT NULL
							THEN 'billium_merchants_listing' ELSE 'billium_merchants_with' END,
					   permission);
		-- A view policy with a pk key's own rows or a create-only caller (issue 15).  The common
		-- caller, which sees every row of its merchants, pays for one indexable array and one
		-- boolean, each computed once per statement; the rest runs, per row, only for the others.
		-- The array holds every merchant where the rest can let a row through.
		IF command = 'SELECT' AND (own_rows_column IS NOT NULL OR
								   (create_permission IS NOT NULL AND create_permission <> permission)) THEN
			-- A caller holding the insert permission but not this one sees the row its INSERT ...
			-- RETURNING checks (not yet stored: no ctid), nothing else.  Without own rows, the
			-- array below is exactly billium_merchants_returning.
			IF create_permission IS NOT NULL AND create_permission <> permission THEN
				IF own_rows_column IS NULL THEN
					qual := format('%s OR ctid OPERATOR(pg_catalog.=) ''(4294967295,0)''::pg_catalog.tid', qual);
				ELSE
					qual := format('%I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_returning(%L, %L, %L))::pg_catalog.uuid[])'
								   ' AND (%s OR ctid OPERATOR(pg_catalog.=) ''(4294967295,0)''::pg_catalog.tid)',
								   merchant_column, permission, create_permission, true, qual);
				END IF;
			END IF;
			-- A pk key sees the rows it created, first: it is the one caller here with rows to see.
			IF own_rows_column IS NOT NULL THEN
				qual := format('%I OPERATOR(pg_catalog.=) (SELECT @extschema@.billium_public_key_with(%L)) OR (%s)',
							   own_rows_column, permission, qual);
			END IF;
			qual := format('%1$I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_policy_visible_merchants(%2$L, %3$L, %4$L))::pg_catalog.uuid[])'
						   ' AND ((SELECT @extschema@.billium_policy_visible_whole(%2$L, %3$L, %4$L)) OR (%5$s))',
						   merchant_column, permission, COALESCE(create_permission, permission),
						   own_rows_column IS NOT NULL, qual);
		END IF;
		IF row_filter IS NOT NULL THEN
			qual := format('%s AND (%s)', row_filter, qual);
		END IF;
	END IF;
	RETURN CASE command
		WHEN 'SELECT' THEN format('FOR SELECT USING (%s)', qual)
		WHEN 'INSERT' THEN format('FOR INSERT WITH CHECK (%s)', qual)
		WHEN 'UPDATE' THEN format('FOR UPDATE USING (%s) WITH CHECK (%s)', qual, qual)
		ELSE format('FOR DELETE USING (%s)', qual) END;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_policy_clause(text, text, name, name, text, text) IS
	'internal: the FOR ... USING ... WITH CHECK clause of a billium policy (from billium.policy_rules, or billium_protect_table)';

-- (Re)create every policy of billium.policy_rules.
CREATE FUNCTION @extschema@.billium_apply_policy_rules() RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT pr.*,
					(SELECT i.permission FROM @extschema@.policy_rules i
					 WHERE i.tbl OPERATOR(pg_catalog.=) pr.tbl AND i.command OPERATOR(pg_catalog.=) 'INSERT') AS create_permission
			 FROM @extschema@.policy_rules pr ORDER BY pr.tbl, pr.policy LOOP
		EXECUTE format('DROP POLICY IF EXISTS %I ON @extschema@.%I', r.policy, r.tbl);
		EXECUTE format('CREATE POLICY %I ON @extschema@.%I %s', r.policy, r.tbl,
					   @extschema@.billium_policy_clause(r.command, r.permission, r.merchant_column,
														 r.own_rows_column, r.row_filter, r.create_permission));
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_apply_policy_rules() IS
	'internal: create every policy of billium.policy_rules (the install and upgrade scripts call it)';

SELECT @extschema@.billium_apply_policy_rules();

-- Reports: the ids a caller may retrieve; each is a view of the schema (report:view).
CREATE FUNCTION @extschema@.billium_report_catalog(OUT id text, OUT title text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	VALUES ('invoice_totals', 'Invoices: count and sum of amounts per currency and status')
$$;
COMMENT ON FUNCTION @extschema@.billium_report_catalog() IS
	'the reports the API serves (id, title); invoice_totals reads the reports view';
REVOKE ALL ON FUNCTION @extschema@.billium_report_catalog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_report_catalog() TO billium_api;

------------------------------------------------------------------------------------------------
-- The dashboard users, and the reports view.
------------------------------------------------------------------------------------------------

-- The users the caller may see: itself (a dashboard session) and the teams where it holds
-- team:view.  For the users policy, as one array per statement.
CREATE FUNCTION @extschema@.billium_visible_users() RETURNS uuid[]
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT u.id), '{}'::pg_catalog.uuid[])
	FROM (SELECT p.user_id FROM @extschema@.billium_current_principal() AS p
		  WHERE p.kind OPERATOR(pg_catalog.=) 'user'
		  UNION ALL
		  SELECT tm.user_id FROM @extschema@.team_members tm
		  WHERE tm.merchant_id OPERATOR(pg_catalog.=) ANY (@extschema@.billium_merchants_with('team:view'))) AS u(id)
	WHERE u.id IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.billium_visible_users() IS
	'the dashboard users this transaction''s caller may see: itself, and the teams where it holds team:view (for policies)';

-- users: a dashboard session sees itself; team:view shows the team.  No writes through the API.
CREATE POLICY users_view ON @extschema@.users FOR SELECT
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_visible_users())::uuid[]));

-- Reports: invoice totals per merchant, currency and status.  The view reads invoices as its
-- owner (the extension's), so report:view alone suffices; the security barrier keeps a
-- caller's own conditions from running before the filter.
CREATE VIEW @extschema@.reports WITH (security_barrier) AS
	SELECT i.merchant_id, i.currency, i.status, pg_catalog.count(*) AS count, pg_catalog.sum(i.amount) AS sum
	FROM @extschema@.invoices i
	WHERE i.merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('report:view'))::uuid[])
	GROUP BY i.merchant_id, i.currency, i.status;
COMMENT ON VIEW @extschema@.reports IS
	'per merchant, currency and status: the count and sum(amount) of invoices, where the caller holds report:view';

GRANT SELECT ON @extschema@.reports TO billium_api;

REVOKE ALL ON FUNCTION
	@extschema@.billium_visible_users(),
	@extschema@.billium_policy_clause(text, text, name, name, text, text),
	@extschema@.billium_apply_policy_rules()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_visible_users() TO billium_api;
-- billium_protect_table (protect.sql) runs as its caller and writes its policies with it.
GRANT EXECUTE ON FUNCTION @extschema@.billium_policy_clause(text, text, name, name, text, text)
	TO billium_api, billium_admin;
