import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { OWN_TITLES, type OwnTitle } from '../../lib/cloud-api/errors';

/**
 * Every error code the package throws reaches users through the shared "errors" catalog of
 * whatsapp-config (nodes/shared/i18n.ts), so each needs an English and a German text with the same
 * placeholders. The codes are read from the TypeScript sources, next to the compiled tests.
 */
const REPO = path.resolve(__dirname, '..', '..', '..');
const CODE_PATTERN = /(?:GdprWhatsAppError|WebhookError|CloudApiError)\(\s*(?:\d+,\s*)?'([a-z0-9-]+)'/g;
/** Purpose problems (lib/conversation/purposes.ts) carry their code to the error parsePurposes throws. */
const PROBLEM_PATTERN = /problem\(\s*'\w+',\s*'([a-z0-9-]+)'/g;
/** CloudApiError picks its code from what failed (describeFailure in lib/cloud-api/errors.ts). */
const DESCRIBED_PATTERN = /\{ code: '([a-z0-9-]+)'/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function thrownCodes(): Set<string> {
  const codes = new Set<string>();
  for (const file of [...sourceFiles(path.join(REPO, 'lib')), ...sourceFiles(path.join(REPO, 'nodes'))]) {
    const source = fs.readFileSync(file, 'utf8');
    for (const match of source.matchAll(CODE_PATTERN)) codes.add(match[1]);
    for (const match of source.matchAll(PROBLEM_PATTERN)) codes.add(match[1]);
    for (const match of source.matchAll(DESCRIBED_PATTERN)) codes.add(match[1]);
  }
  return codes;
}

function errorCatalog(lang: string): Record<string, string> {
  const { 'api-titles': _titles, ...texts } = errorGroups(lang);
  return texts as Record<string, string>;
}

function errorGroups(lang: string): Record<string, unknown> {
  const file = path.join(REPO, 'nodes', 'locales', lang, 'whatsapp-config.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).errors;
}

const placeholders = (text: string) => [...text.matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();

describe('error texts (en-US and de)', () => {
  const codes = thrownCodes();
  const en = errorCatalog('en-US');
  const de = errorCatalog('de');

  it('finds the codes the sources throw', () => {
    assert.ok(codes.has('invalid-phone') && codes.has('webhook-signature-invalid'), [...codes].join(', '));
    assert.ok(codes.has('invalid-purpose-wording'), [...codes].join(', '));
    assert.ok(codes.has('cloud-api-held') && codes.has('cloud-api-rate-limited'), [...codes].join(', '));
  });

  it('has an English and a German text for every code thrown', () => {
    const missing = [...codes].filter((code) => !en[code] || !de[code]);
    assert.deepEqual(missing, [], `codes without a text in en-US or de: ${missing.join(', ')}`);
  });

  it('uses the same placeholders in both languages', () => {
    const differing = Object.keys(en).filter(
      (code) => de[code] && placeholders(en[code]).join() !== placeholders(de[code]).join(),
    );
    assert.deepEqual(differing, []);
  });

  it("has both texts for every title of a failure without an answer of Meta's", () => {
    const [enTitles, deTitles] = ['en-US', 'de'].map((lang) => errorGroups(lang)['api-titles']);
    assert.deepEqual(enTitles, OWN_TITLES);
    const keys = Object.keys(OWN_TITLES) as OwnTitle[];
    const missing = keys.filter((key) => {
      const text = (deTitles as Record<string, unknown>)[key];
      return typeof text !== 'string' || text === OWN_TITLES[key];
    });
    assert.deepEqual(missing, []);
  });

  it('has a German text that is not the English one', () => {
    const untranslated = Object.keys(en).filter((code) => de[code] === en[code]);
    assert.deepEqual(untranslated, []);
  });
});
