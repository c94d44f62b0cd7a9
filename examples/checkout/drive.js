'use strict';
// Opens the checkout page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), clicks "Create invoice" then "List every invoice", prints what the page shows
// and saves a screenshot. For `make demo`; test/browser.test.js is the test.
//
//   node drive.js http://127.0.0.1:8081 /tmp/checkout.png

const { chromium } = require('playwright-core');

async function main([url, screenshot]) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 720 } });
    await page.goto(url);
    const past = (id, from) => page.waitForFunction(([i, f]) => document.getElementById(i).dataset.state !== f, [id, from]);
    await past('product', 'loading');
    console.log(`product:  ${await page.textContent('#product-name')}, ${await page.textContent('#product-price')}`);
    await page.click('#pay');
    await past('invoice', 'none');
    console.log(`pay:      ${await page.textContent('#invoice')}`);
    await page.click('#list');
    await past('list-result', 'none');
    console.log(`list:     ${await page.textContent('#list-result')}`);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err.message);
  process.exit(1);
});
