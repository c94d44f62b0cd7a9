'use strict';
// A tiny static server for the checkout page, on its own origin (another port than the gateway's).
// Serves public/ and /config.js, written from the environment:
//   CHECKOUT_GATEWAY_URL   the gateway, e.g. http://127.0.0.1:8080 (it must allow this origin:
//                          CORS_ALLOWED_ORIGINS, see examples/gateway/cors.js)
//   CHECKOUT_MERCHANT_ID   the merchant
//   CHECKOUT_PK_KEY        a pk_ key of the merchant (public: it is served to every visitor)
//   CHECKOUT_PRODUCT_ID    the product to show
//   PORT                   default 8081; 0 picks a free one
// Listens on 127.0.0.1 only.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const PUBLIC = path.join(__dirname, 'public');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const key = process.env.CHECKOUT_PK_KEY ?? '';
if (!key.startsWith('pk_')) {
  // A secret key must never be served to a browser.
  console.error('CHECKOUT_PK_KEY must be a pk_ key');
  process.exit(2);
}
const config = `window.CHECKOUT = ${JSON.stringify({
  gatewayUrl: (process.env.CHECKOUT_GATEWAY_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
  merchantId: process.env.CHECKOUT_MERCHANT_ID ?? '',
  publicKey: key,
  productId: process.env.CHECKOUT_PRODUCT_ID ?? '',
})};\n`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://checkout');
  const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' });
    return res.end();
  }
  if (name === 'config.js') {
    res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' });
    return res.end(config);
  }
  // Only the files in public/, by their plain names.
  if (!/^[a-z]+\.(html|js|css)$/.test(name) || !fs.existsSync(path.join(PUBLIC, name))) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found');
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(name)], 'cache-control': 'no-store' });
  res.end(fs.readFileSync(path.join(PUBLIC, name)));
});

server.listen(Number(process.env.PORT ?? 8081), '127.0.0.1', () => {
  // Scripts wait for this line and read the port from it.
  console.log(`checkout listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
