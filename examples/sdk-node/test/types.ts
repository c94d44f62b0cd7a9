// Type-checked by test/suites/sdk_node.sh (tsc --noEmit --strict): the declarations in index.d.ts
// and lib/resources.d.ts describe the SDK as a TypeScript caller uses it.
import { Billium, BilliumError, PUBLIC_ACTIONS } from '..';
import type { Invoice, InvoiceCreate } from '..';

async function checkout(merchantId: string): Promise<void> {
  const billium = new Billium({ apiKey: 'pk_test', merchantId, baseUrl: 'http://127.0.0.1:8080', maxRetries: 2 });
  const body: InvoiceCreate = { product_id: '00000000-0000-0000-0000-000000000000' };
  const invoice: Invoice = await billium.invoices.create(body, { requestId: 'checkout-1' });
  const again: Invoice = await billium.invoices.retrieve(invoice.id ?? '');
  const all: Invoice[] = await billium.invoices.list();
  await billium.team.transferOwnership('00000000-0000-0000-0000-000000000000');
  await billium.apiKeys.roll('key', { grace_seconds: 60 });
  void again; void all;
  const kind: 'sk' | 'pk' = billium.keyType;
  const publicOnes: readonly string[] = PUBLIC_ACTIONS;
  void kind; void publicOnes;
}

function explain(err: unknown): string {
  if (err instanceof BilliumError) {
    const wait: number | null = err.retryAfterMs;
    const missing: string[] = err.missing;
    const id: string | null = err.requestId;
    return `${err.status} ${err.code} ${err.message} ${wait} ${missing.join()} ${id} ${err.required} ${err.requiredRole}`;
  }
  return String(err);
}

// @ts-expect-error: a path parameter is required
void new Billium({ apiKey: 'sk_x', merchantId: 'm' }).invoices.retrieve();
// @ts-expect-error: a body is required where the list's schema requires fields (type, permissions)
void new Billium({ apiKey: 'sk_x', merchantId: 'm' }).apiKeys.create();
// @ts-expect-error: merchantId is required
void new Billium({ apiKey: 'sk_x' });
// @ts-expect-error: no such field on an invoice
void ((i: Invoice) => i.amout);

void checkout;
void explain;
