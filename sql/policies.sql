/* billium: the row-level security policies of the extension's tables, and the reports view. */

------------------------------------------------------------------------------------------------
-- Domain tables.
------------------------------------------------------------------------------------------------

-- view -> SELECT, create -> INSERT, edit -> UPDATE, delete -> DELETE.  pk keys see only the
-- invoices they created.
-- One OR of two leakproof comparisons: costed above a query's own merchant filter, so a
-- sequential scan tests that cheaper filter first, as it would without row-level security.
CREATE POLICY invoices_view ON @extschema@.invoices FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_listing('invoice:view'))::uuid[])
		   OR created_by_key OPERATOR(pg_catalog.=) (SELECT @extschema@.billium_public_key_with('invoice:view')));
CREATE POLICY invoices_create ON @extschema@.invoices FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:create'))::uuid[]));
CREATE POLICY invoices_edit ON @extschema@.invoices FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:edit'))::uuid[]));
CREATE POLICY invoices_delete ON @extschema@.invoices FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:delete'))::uuid[]));

CREATE POLICY products_view ON @extschema@.products FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:view'))::uuid[]));
CREATE POLICY products_create ON @extschema@.products FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:create'))::uuid[]));
CREATE POLICY products_edit ON @extschema@.products FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:edit'))::uuid[]));
CREATE POLICY products_delete ON @extschema@.products FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:delete'))::uuid[]));

-- customer: there is no customer:create; customer:edit creates and edits.
CREATE POLICY customers_view ON @extschema@.customers FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:view'))::uuid[]));
CREATE POLICY customers_create ON @extschema@.customers FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]));
CREATE POLICY customers_edit ON @extschema@.customers FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]));
CREATE POLICY customers_delete ON @extschema@.customers FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:delete'))::uuid[]));

CREATE POLICY webhooks_view ON @extschema@.webhooks FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:view'))::uuid[]));
CREATE POLICY webhooks_create ON @extschema@.webhooks FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:create'))::uuid[]));
CREATE POLICY webhooks_edit ON @extschema@.webhooks FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:edit'))::uuid[]));
CREATE POLICY webhooks_delete ON @extschema@.webhooks FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:delete'))::uuid[]));

-- checkout: view, and edit for every write.
CREATE POLICY checkout_settings_view ON @extschema@.checkout_settings FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:view'))::uuid[]));
CREATE POLICY checkout_settings_create ON @extschema@.checkout_settings FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));
CREATE POLICY checkout_settings_edit ON @extschema@.checkout_settings FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));
CREATE POLICY checkout_settings_delete ON @extschema@.checkout_settings FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));

CREATE POLICY wallets_view ON @extschema@.wallets FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:view'))::uuid[]));
CREATE POLICY wallets_create ON @extschema@.wallets FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:create'))::uuid[]));
CREATE POLICY wallets_edit ON @extschema@.wallets FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:edit'))::uuid[]));
CREATE POLICY wallets_delete ON @extschema@.wallets FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:delete'))::uuid[]));

CREATE POLICY merchant_billing_view ON @extschema@.merchant_billing FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_create ON @extschema@.merchant_billing FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_edit ON @extschema@.merchant_billing FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_delete ON @extschema@.merchant_billing FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));

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
-- The merchant model: merchants, users, the team, keys.
------------------------------------------------------------------------------------------------

-- merchants: no INSERT policy; billium_create_merchant opens them.
CREATE POLICY merchants_view ON @extschema@.merchants FOR SELECT
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:view'))::uuid[]));
CREATE POLICY merchants_edit ON @extschema@.merchants FOR UPDATE
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:edit'))::uuid[]))
	WITH CHECK (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:edit'))::uuid[]));
CREATE POLICY merchants_delete ON @extschema@.merchants FOR DELETE
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:delete'))::uuid[]));

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

-- team_members: view, invite, manage roles, remove.
CREATE POLICY team_members_view ON @extschema@.team_members FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:view'))::uuid[]));
CREATE POLICY team_members_invite ON @extschema@.team_members FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:invite'))::uuid[]));
CREATE POLICY team_members_manage_roles ON @extschema@.team_members FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:manage_roles'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:manage_roles'))::uuid[]));
CREATE POLICY team_members_remove ON @extschema@.team_members FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:remove'))::uuid[]));

-- api_keys: readable with api_key:view, every column but key_hash (see its column grants in tables.sql);
-- written only by the key functions.
CREATE POLICY api_keys_view ON @extschema@.api_keys FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('api_key:view'))::uuid[]));

REVOKE ALL ON FUNCTION @extschema@.billium_visible_users() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_visible_users() TO billium_api;
