'use strict';
// Signs an HS256 dashboard session token, as a login service holding billium.jwt_secret would.
// For the tests and the demo only: a real deployment's login service issues these.
//
//   BILLIUM_JWT_SECRET=... node sign-session.js <user-uuid> [seconds-valid]
//
// The secret comes from the environment, not the command line, so it never shows in `ps`.

const crypto = require('node:crypto');

const b64url = (data) => Buffer.from(data).toString('base64url');

function signSession(userId, secret, seconds = 600) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ sub: userId, exp: Math.floor(Date.now() / 1000) + seconds }));
  const signature = crypto.createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

module.exports = { signSession };

if (require.main === module) {
  const [userId, seconds] = process.argv.slice(2);
  const secret = process.env.BILLIUM_JWT_SECRET;
  if (!userId || !secret) {
    console.error('usage: BILLIUM_JWT_SECRET=... node sign-session.js <user-uuid> [seconds-valid]');
    process.exit(2);
  }
  process.stdout.write(signSession(userId, secret, seconds ? Number(seconds) : undefined) + '\n');
}
