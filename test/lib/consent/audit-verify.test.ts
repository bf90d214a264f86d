import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  type AuditEvent,
  type AuditRecord,
  GENESIS_HASH,
  hashAuditEvent,
  verifyAuditLines,
} from '../../../lib/consent/audit-verify';
import { canonicalJson } from '../../../lib/consent/canonical';

function chain(count: number, start = { seq: 0, hash: GENESIS_HASH }): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = start;
  for (let i = 1; i <= count; i += 1) {
    const event: AuditEvent = {
      seq: prev.seq + 1,
      at: 1_700_000_000_000 + i,
      actor: 'node-1',
      action: i % 2 ? 'consent.given' : 'consent.withdrawn',
      pseudonym: `p${i}`,
      purpose: 'marketing',
      outcome: 'ok',
      detail: { z: 1, a: { y: [2, 1], b: null } },
      prevHash: prev.hash,
    };
    const record = { ...event, hash: hashAuditEvent(event) };
    out.push(record);
    prev = record;
  }
  return out;
}

describe('audit chain verifier (pure, over exported JSON lines)', () => {
  it('canonical JSON sorts keys at every depth and keeps array order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null }, x: undefined }),
      '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}',
    );
  });

  it('the documented hash is SHA-256 over the canonical event without its hash', () => {
    const [record] = chain(1);
    const { hash, ...event } = record;
    assert.equal(createHash('sha256').update(canonicalJson(event)).digest('hex'), hash);
  });

  it('accepts an intact chain, with or without a retention anchor', () => {
    const records = chain(5);
    assert.deepEqual(verifyAuditLines(records.map((r) => JSON.stringify(r))), {
      ok: true,
      count: 5,
      headHash: records[4].hash,
    });
    const anchored = [
      JSON.stringify({ type: 'anchor', seq: 2, hash: records[1].hash }),
      ...records.slice(2).map((r) => JSON.stringify(r)),
    ];
    assert.equal(verifyAuditLines(anchored).ok, true);
  });

  it('names the first broken link for any single change', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom('actor', 'action', 'pseudonym', 'outcome', 'at', 'detail', 'prevHash', 'hash'),
        (index, field) => {
          const records = chain(8);
          const tampered = { ...records[index] } as Record<string, unknown>;
          tampered[field] = field === 'at' ? Number(tampered.at) + 1 : field === 'detail' ? { z: 2 } : 'x';
          records[index] = tampered as unknown as AuditRecord;
          const result = verifyAuditLines(records.map((r) => JSON.stringify(r)));
          assert.equal(result.ok, false);
          assert.equal(result.firstBrokenSeq, index + 1);
        },
      ),
    );
  });

  it('finds removed, reordered and garbage lines', () => {
    const lines = chain(4).map((r) => JSON.stringify(r));
    assert.equal(verifyAuditLines([lines[0], lines[2], lines[3]]).firstBrokenSeq, 3);
    assert.equal(verifyAuditLines([lines[1], lines[0]]).firstBrokenSeq, 2);
    assert.equal(verifyAuditLines([lines[0], '{not json']).ok, false);
    assert.equal(verifyAuditLines([lines[0], 'null']).firstBrokenSeq, 2);
  });

  it('refuses a line with members the hash does not cover, or without one it does', () => {
    const records = chain(3);
    const added = records.map((r, i) => JSON.stringify(i === 1 ? { ...r, note: 'consent given by phone' } : r));
    assert.deepEqual(
      [verifyAuditLines(added).ok, verifyAuditLines(added).firstBrokenSeq, verifyAuditLines(added).reason],
      [false, 2, 'an event line has other members'],
    );
    const { detail: _dropped, ...withoutDetail } = records[2];
    const missing = [...records.slice(0, 2), withoutDetail].map((r) => JSON.stringify(r));
    assert.equal(verifyAuditLines(missing).firstBrokenSeq, 3);
    const anchor = { type: 'anchor', seq: 1, hash: records[0].hash, note: 'x' };
    const anchored = [JSON.stringify(anchor), ...records.slice(1).map((r) => JSON.stringify(r))];
    assert.equal(verifyAuditLines(anchored).reason, 'the anchor line has other members');
  });
});
