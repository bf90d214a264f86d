import assert from 'node:assert/strict';
import {
  decideGate,
  gatePurpose,
  gateSubject,
  isFreeFormMessage,
  isWithinServiceWindow,
  SERVICE_WINDOW_MS,
} from '../../../lib/conversation/gate';
import type { GdprWhatsAppError } from '../../../lib/errors';

const given = { allowed: true, status: 'given', reason: 'consent given' };
const now = Date.UTC(2025, 0, 10, 12);

describe('conversation/gate', () => {
  it('passes a valid consent and blocks every other status with that status as the reason', () => {
    assert.deepEqual(decideGate(given), { pass: true, status: 'given' });
    for (const status of ['none', 'pending', 'withdrawn', 'expired', 'refused', 'erased', 'unknown-purpose']) {
      const decision = decideGate({ allowed: false, status, reason: `because ${status}` });
      assert.deepEqual(decision, { pass: false, status, reason: status, detail: `because ${status}` });
    }
  });

  it('blocks free-form messages outside the 24-hour window but lets templates through', () => {
    const lastInboundAt = now - SERVICE_WINDOW_MS - 1;
    const blocked = decideGate(given, { payload: 'Hello', lastInboundAt, now });
    assert.equal(blocked.pass, false);
    assert.equal(!blocked.pass && blocked.reason, 'outside-service-window');
    assert.equal(decideGate(given, { payload: { type: 'interactive' }, lastInboundAt: undefined, now }).pass, false);
    assert.equal(decideGate(given, { payload: { type: 'template' }, lastInboundAt, now }).pass, true);
    assert.equal(decideGate(given, { payload: 'Hello', lastInboundAt: now - SERVICE_WINDOW_MS + 1, now }).pass, true);
  });

  it('reports a missing consent before the window', () => {
    const decision = decideGate(
      { allowed: false, status: 'withdrawn', reason: 'STOP' },
      { payload: 'x', lastInboundAt: undefined, now },
    );
    assert.equal(!decision.pass && decision.reason, 'withdrawn');
  });

  it('knows which messages are free-form', () => {
    assert.equal(isFreeFormMessage('text'), true);
    assert.equal(isFreeFormMessage({ type: 'image' }), true);
    assert.equal(isFreeFormMessage({ type: 'template', template: {} }), false);
    // whatsapp-send infers the type from a lone message key; the gate must read the payload the same way.
    assert.equal(isFreeFormMessage({ template: { name: 'order_update', language: { code: 'de' } } }), false);
    assert.equal(isFreeFormMessage({ image: { id: '123' } }), true);
    assert.equal(isWithinServiceWindow(undefined, now), false);
    assert.equal(isWithinServiceWindow(now - SERVICE_WINDOW_MS, now), false);
  });

  it('takes the subject from msg.to, else from the inbound sender, else the business-scoped id', () => {
    assert.deepEqual(gateSubject({ to: '0049 151 23456789' }), { phone: '+4915123456789' });
    assert.deepEqual(gateSubject({ whatsapp: { from: '+4915123456789' } }), { phone: '+4915123456789' });
    assert.deepEqual(gateSubject({ whatsapp: { userId: 'DE.123' } }), { userId: 'DE.123' });
    assert.deepEqual(gateSubject({ to: 'US.ENT.11815799212886844830' }), { userId: 'US.ENT.11815799212886844830' });
    assert.deepEqual(gateSubject({ whatsapp: { from: '+4915123456789', userId: 'DE.123' } }), {
      phone: '+4915123456789',
    });
    assert.deepEqual(gateSubject({ to: ' DE.123 ' }), { userId: 'DE.123' });
    for (const unaddressed of [
      { whatsapp: { userId: 'not a bsuid' } },
      { to: '', whatsapp: { userId: 'DE.123' } },
      // A database lookup that found nobody usually yields null.
      { to: null, whatsapp: { from: '+4915123456789' } },
    ]) {
      assert.throws(
        () => gateSubject(unaddressed),
        (err: unknown) => (err as { code?: string }).code === 'missing-recipient',
        'an empty msg.to never falls back to the inbound sender',
      );
    }
    assert.throws(
      () => gateSubject({}),
      (e: unknown) => (e as GdprWhatsAppError).code === 'missing-recipient',
    );
    assert.throws(
      () => gateSubject({ to: '12' }),
      (e: unknown) => (e as GdprWhatsAppError).code === 'invalid-phone',
    );
  });

  it('uses msg.purpose only when the node allows it', () => {
    assert.equal(gatePurpose('news', 'orders', true), 'news');
    assert.equal(gatePurpose('news', 'orders', false), 'orders');
    assert.equal(gatePurpose(undefined, 'orders', true), 'orders');
    // Allowed already: the error must not tell the flow to allow msg.purpose.
    assert.throws(
      () => gatePurpose(undefined, '', true),
      (e: unknown) => (e as GdprWhatsAppError).code === 'missing-msg-purpose',
    );
    assert.throws(
      () => gatePurpose('news', '', false),
      (e: unknown) => (e as GdprWhatsAppError).code === 'missing-purpose',
    );
  });

  it('refuses a msg.purpose it cannot read instead of checking the node purpose in its place', () => {
    for (const unreadable of [['news', 'orders'], 7, '', null, { id: 'news' }, true]) {
      assert.throws(
        () => gatePurpose(unreadable, 'orders', true),
        (e: unknown) => (e as GdprWhatsAppError).code === 'invalid-msg-purpose',
        JSON.stringify(unreadable),
      );
    }
    // Not allowed to choose: msg.purpose is not looked at, whatever it holds.
    assert.equal(gatePurpose(['news'], 'orders', false), 'orders');
  });
});
