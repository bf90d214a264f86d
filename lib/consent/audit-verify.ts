import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical';

/**
 * The audit chain, verifiable without this package.
 *
 * `exportAudit()` writes JSON lines. An optional first line `{"type":"anchor","seq":N,"hash":H}` appears
 * when the retention sweep has removed older events: the chain then continues from event N with hash H.
 * A removed event that proves a consent or an objection still standing was first restated further on, as an event
 * `consent.proof-restated` whose detail.original is the removed event whole (lib/consent/proof-restatement.ts).
 * Every other line is one event with exactly these members:
 *   seq (integer, 1, 2, 3, ... without gaps), at (Unix milliseconds), actor, action, pseudonym (or null),
 *   purpose (or null), outcome, detail (an object or null), prevHash, hash.
 * Canonical form: the event without `hash`, serialised as JSON with object keys sorted at every depth
 * and no whitespace (see canonical.ts). hash = lowercase hex SHA-256 of the UTF-8 bytes of that form.
 * prevHash of the first event is 64 zeros (or the anchor's hash); every later prevHash is the hash of
 * the event before it. A short independent verifier (Node.js):
 *
 *   const { createHash } = require('crypto');
 *   const sort = (v) => Array.isArray(v) ? v.map(sort) : v && typeof v === 'object'
 *     ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
 *   let prev = '0'.repeat(64), seq = 0;
 *   for (const line of require('fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean)) {
 *     const { hash, ...event } = JSON.parse(line);
 *     if (event.type === 'anchor') { prev = hash; seq = event.seq; continue; }
 *     const ok = event.seq === seq + 1 && event.prevHash === prev &&
 *       createHash('sha256').update(JSON.stringify(sort(event))).digest('hex') === hash;
 *     if (!ok) { console.log('broken at', event.seq); process.exit(1); }
 *     prev = hash; seq = event.seq;
 *   }
 *   console.log('ok', seq);
 *
 * The chain proves that no event was changed, removed or inserted after the fact; keep the latest
 * `headHash` outside the database (e.g. in a ticket or signed e-mail) to also detect a rewrite of the tail.
 */

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEvent {
  seq: number;
  at: number;
  actor: string;
  action: string;
  pseudonym: string | null;
  purpose: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
  prevHash: string;
}

export interface AuditRecord extends AuditEvent {
  hash: string;
}

export interface AuditAnchor {
  seq: number;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  count: number;
  firstBrokenSeq?: number;
  reason?: string;
  /** Hash of the last event; keep it outside the database to detect a rewritten tail later. */
  headHash?: string;
}

export function hashAuditEvent(event: AuditEvent): string {
  const { seq, at, actor, action, pseudonym, purpose, outcome, detail, prevHash } = event;
  const canonical = canonicalJson({ seq, at, actor, action, pseudonym, purpose, outcome, detail, prevHash });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** Incremental verifier, so that a chain of millions of events is checked without holding it in memory. */
export class AuditChainVerifier {
  private prevHash = GENESIS_HASH;
  private lastSeq = 0;
  private count = 0;
  private broken?: { seq: number; reason: string };

  constructor(anchor?: AuditAnchor) {
    if (anchor) this.setAnchor(anchor);
  }

  setAnchor(anchor: AuditAnchor): void {
    this.prevHash = anchor.hash;
    this.lastSeq = anchor.seq;
  }

  /** Returns false once the chain is broken; later events are ignored. */
  add(record: AuditRecord): boolean {
    if (this.broken) return false;
    const seq = record.seq;
    let reason: string | undefined;
    if (!Number.isSafeInteger(seq) || seq !== this.lastSeq + 1) reason = `expected seq ${this.lastSeq + 1}`;
    else if (record.prevHash !== this.prevHash) reason = 'prevHash does not match the previous event';
    else if (hashAuditEvent(record) !== record.hash) reason = 'hash does not match the event';
    if (reason) {
      this.broken = { seq: Number.isSafeInteger(seq) ? seq : this.lastSeq + 1, reason };
      return false;
    }
    this.prevHash = record.hash;
    this.lastSeq = seq;
    this.count += 1;
    return true;
  }

  result(): AuditVerification {
    if (this.broken) {
      return { ok: false, count: this.count, firstBrokenSeq: this.broken.seq, reason: this.broken.reason };
    }
    return { ok: true, count: this.count, headHash: this.prevHash };
  }
}

/** Verifies exported JSON lines (the format above). Pure: no database, no package state. */
export function verifyAuditLines(lines: Iterable<string>): AuditVerification {
  const verifier = new AuditChainVerifier();
  let first = true;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return brokenAt(verifier, 'a line is not JSON');
    }
    const entry = (parsed ?? {}) as Record<string, unknown>;
    if (first && entry.type === 'anchor') {
      if (!hasExactly(entry, ANCHOR_MEMBERS)) return brokenAt(verifier, 'the anchor line has other members');
      verifier.setAnchor({ seq: Number(entry.seq), hash: String(entry.hash) });
      first = false;
      continue;
    }
    first = false;
    // Members outside the hash would ride along unproven: the format says "exactly these members".
    if (!hasExactly(entry, EVENT_MEMBERS)) return brokenAt(verifier, 'an event line has other members');
    if (!verifier.add(entry as unknown as AuditRecord)) break;
  }
  return verifier.result();
}

const EVENT_MEMBERS = [
  'seq',
  'at',
  'actor',
  'action',
  'pseudonym',
  'purpose',
  'outcome',
  'detail',
  'prevHash',
  'hash',
] as const;
const ANCHOR_MEMBERS = ['type', 'seq', 'hash'] as const;

function hasExactly(entry: Record<string, unknown>, members: readonly string[]): boolean {
  if (typeof entry !== 'object' || Array.isArray(entry)) return false;
  const keys = Object.keys(entry);
  return keys.length === members.length && members.every((m) => Object.hasOwn(entry, m));
}

/** The result for a line that breaks the chain before its hash is looked at. */
function brokenAt(verifier: AuditChainVerifier, reason: string): AuditVerification {
  verifier.add({ seq: Number.NaN } as AuditRecord);
  return { ...verifier.result(), reason };
}

/** A page of the audit export: JSON lines, and where the next page starts (missing after the last). */
export interface AuditExportPage {
  lines: string[];
  next?: number;
}

/** Every line of an audit export, read page after page (ConsentLedger.exportAuditPage). */
export async function* auditExportLines(page: (after?: number) => Promise<AuditExportPage>): AsyncIterable<string> {
  let current = await page();
  for (;;) {
    yield* current.lines;
    if (current.next === undefined) return;
    current = await page(current.next);
  }
}
