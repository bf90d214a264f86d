/**
 * The package's entry point for code outside Node-RED flows (package.json "main"): the framework-free parts an
 * auditor or a script beside Node-RED needs, such as checking an audit export offline:
 *   const { verifyAuditLines } = require('@gdpr-whatsapp/node-red');
 *   verifyAuditLines(fs.readFileSync('audit.jsonl', 'utf8').split('\n')); // { ok, count, headHash } or where it broke
 * Node-RED itself loads the nodes from package.json "node-red", not from here.
 */
export { type AuditVerification, verifyAuditLines } from './consent/audit-verify';
export { ConsentLedger } from './consent/ledger';
export type { LedgerOptions } from './consent/types';
export { GdprWhatsAppError } from './errors';
