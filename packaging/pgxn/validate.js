// Validate a META.json against the PGXN Meta Spec 1.0.0 schema next to this file, with ajv.
// Usage: node validate.js path/to/META.json [schema.json]; exit status 0 when it validates.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const metaPath = process.argv[2];
const schemaPath = process.argv[3] || path.join(__dirname, 'meta-spec-v1.schema.json');
if (!metaPath) {
    console.error('usage: node validate.js META.json [schema.json]');
    process.exit(2);
}
// unicodeRegExp: the schema's patterns use \p{Cc}.
const ajv = new Ajv({ allErrors: true, strict: true, unicodeRegExp: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
if (validate(meta)) {
    console.log(`${metaPath}: valid PGXN Meta Spec 1.0.0`);
} else {
    for (const e of validate.errors) console.error(`${metaPath}: ${e.instancePath || '/'} ${e.message}`);
    process.exit(1);
}
