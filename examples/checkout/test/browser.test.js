'use strict';
// The checkout page in a real browser: Debian's Chromium, driven by playwright-core (no browser
// download: executablePath is /usr/bin/chromium). Started by test/suites/browser.sh:
//   CHECKOUT_URL         the page, on an origin the gateway allows for its merchant
//   CHECKOUT_OTHER_URL   the same page on an origin the gateway does not allow
//   GATEWAY_URL          the gateway, and GATEWAY_FIXTURES its fixtures (keys, merchant, product)
//   GATEWAY_LOG          the gateway's log (method, path and status of each request)
//   CHECKOUT_SCREENSHOT  where to keep the screenshot of the page
//   CHROMIUM             the browser (default /usr/bin/chromium)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { chromium } = require('playwright-core');

const fx = JSON.parse(fs.readFileSync(process.env.GATEWAY_FIXTURES, 'utf8'));
const GATEWAY = process.env.GATEWAY_URL;
const api = (rest) => `${GATEWAY}/api/v1/merchants/merchant/${fx.merchant}${rest}`;

let browser;
// The gateway's request lines ("OPTIONS /api/... 204 3ms"): preflights are not page requests, so
// the browser's own events do not show them; the gateway's log does.
const logged = (method, rest, status) => fs.readFileSync(process.env.GATEWAY_LOG, 'utf8').split('\n')
  .some((line) => line.startsWith(`${method} /api/v1/merchants/merchant/${fx.merchant}${rest} ${status} `));

test.before(async () => {
  // As root Chromium needs --no-sandbox; the rest keep it off the network (closed here) and quiet.
  // launch() gives it a fresh, empty profile of its own each time.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

test.after(async () => {
  await browser?.close();
});

async function open(url) {
  const context = await browser.newContext({ viewport: { width: 800, height: 720 } });
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

// The page's text and state once it is past `from` (the attribute data-state of #id).
async function settled(page, id, from) {
  await page.waitForFunction(([i, f]) => document.getElementById(i).dataset.state !== f, [id, from], { timeout: 15000 });
  return page.$eval(`#${id}`, (el) => ({ state: el.dataset.state, text: el.textContent, id: el.dataset.id, status: el.dataset.status }));
}

let page;

test('the page, on an allowed origin, shows the product read with the pk key (preflight and grant)', async () => {
  page = await open(process.env.CHECKOUT_URL);
  const product = await settled(page, 'product', 'loading');
  assert.equal(product.state, 'ok', await page.textContent('#product-name'));
  assert.equal(await page.textContent('#product-name'), 'T-shirt');
  assert.equal(await page.textContent('#product-price'), '25.00 USD');
  // The browser asked first: an OPTIONS preflight (x-api-key is not a simple header), granted.
  assert.ok(logged('OPTIONS', `/products/${fx.product}`, 204));
  assert.ok(logged('GET', `/products/${fx.product}`, 200));
});

test('"Create invoice" creates an invoice with the pk key (201), as a server-side sk key then sees it', async () => {
  await page.click('#pay');
  const invoice = await settled(page, 'invoice', 'none');
  assert.equal(invoice.state, 'ok', invoice.text);
  assert.match(invoice.text, /^Invoice [0-9a-f-]{36}: open, 25\.00 USD$/);
  // Checked from here, a server without an Origin header, with the merchant's sk key.
  const res = await fetch(api(`/invoices/${invoice.id}`), { headers: { 'x-api-key': fx.sk } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(Number(body.amount), 2500);
  assert.equal(body.description, 'Checkout: T-shirt');
  assert.ok(logged('OPTIONS', '/invoices', 204) && logged('POST', '/invoices', 201));
});

test('"List every invoice" shows the 403 SECRET_KEY_REQUIRED the gateway answered', async () => {
  await page.click('#list');
  const result = await settled(page, 'list-result', 'none');
  assert.equal(result.state, 'refused', result.text);
  assert.equal(result.status, '403');
  assert.match(result.text, /^403 SECRET_KEY_REQUIRED: /);
});

test('a screenshot of the page is kept as the test\'s artifact', async () => {
  const file = process.env.CHECKOUT_SCREENSHOT;
  await page.screenshot({ path: file, fullPage: true });
  const png = fs.readFileSync(file);
  assert.ok(png.length > 1000);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
});

test('an sk key sent from the page is refused with 403 SECRET_KEY_IN_BROWSER, readable by the page', async () => {
  const answer = await page.evaluate(async ([url, key]) => {
    const res = await fetch(url, { headers: { 'x-api-key': key }, credentials: 'omit' });
    return { status: res.status, body: await res.json() };
  }, [api('/invoices'), fx.sk]);
  assert.equal(answer.status, 403);
  assert.equal(answer.body.code, 'SECRET_KEY_IN_BROWSER');
});

test('the same page on an origin not allowed cannot read the gateway at all', async () => {
  const other = await open(process.env.CHECKOUT_OTHER_URL);
  const product = await settled(other, 'product', 'loading');
  assert.equal(product.state, 'error', product.text);
  assert.match(product.text, /could not reach the gateway/);
  // Its preflight was refused, so the browser never sent the request itself.
  assert.ok(logged('OPTIONS', `/products/${fx.product}`, 403));
  await other.context().close();
});
