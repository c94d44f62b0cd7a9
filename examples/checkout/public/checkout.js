'use strict';
// The checkout's few lines: fetch with the pk key in x-api-key (never a cookie), show the answer.
(() => {
  const { gatewayUrl, merchantId, publicKey, productId } = window.CHECKOUT;
  const base = `${gatewayUrl}/api/v1/merchants/merchant/${encodeURIComponent(merchantId)}`;
  const $ = (id) => document.getElementById(id);

  // {status, body}, or throws when the browser could not read the answer (network, CORS).
  async function call(method, path, body) {
    const res = await fetch(base + path, {
      method,
      credentials: 'omit',
      headers: { 'x-api-key': publicKey, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  const show = (el, state, text) => { el.dataset.state = state; el.textContent = text; };
  const refusal = (r) => `${r.status} ${r.body?.code}: ${r.body?.message}`;
  const money = (amount, currency) => `${(Number(amount) / 100).toFixed(2)} ${String(currency).toUpperCase()}`;
  let product;

  const productFailed = (state, text) => { $('product').dataset.state = state; $('product-name').textContent = text; };
  call('GET', `/products/${encodeURIComponent(productId)}`).then((r) => {
    if (r.status !== 200) return productFailed('refused', refusal(r));
    product = r.body;
    $('product').dataset.state = 'ok';
    $('product-name').textContent = product.name;
    $('product-price').textContent = money(product.price, product.currency);
    $('pay').disabled = false;
  }, (err) => productFailed('error', `could not reach the gateway (${err.message})`));

  $('pay').addEventListener('click', async () => {
    $('pay').disabled = true;
    try {
      // The product, not a price: a pk key's invoice costs its product's price, set by the database.
      const r = await call('POST', '/invoices', { product_id: product.id, description: `Checkout: ${product.name}` });
      if (r.status !== 201) return show($('invoice'), 'refused', refusal(r));
      $('invoice').dataset.id = r.body.id;
      show($('invoice'), 'ok', `Invoice ${r.body.id}: ${r.body.status}, ${money(r.body.amount, r.body.currency)}`);
    } catch (err) {
      show($('invoice'), 'error', `could not reach the gateway (${err.message})`);
    } finally {
      $('pay').disabled = false;
    }
  });

  $('list').addEventListener('click', async () => {
    try {
      const r = await call('GET', '/invoices');
      $('list-result').dataset.status = r.status;
      if (r.status === 200) show($('list-result'), 'ok', `${r.body.length} invoices`);
      else show($('list-result'), 'refused', refusal(r));
    } catch (err) {
      show($('list-result'), 'error', `could not reach the gateway (${err.message})`);
    }
  });
})();
