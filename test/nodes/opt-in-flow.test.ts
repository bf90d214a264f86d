import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConsentLedger } from '../../lib/consent/ledger';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import type { PurposeConfig } from '../../lib/consent/types';
import { FORM_ANSWER_MINIMUM_MS } from '../../lib/conversation/opt-in';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { openSqliteDatabase } from '../../lib/store/sqlite-driver';
import consentStore, { type ConsentStoreNode, parseStoreKeys } from '../../nodes/consent-store';
import optInFlow from '../../nodes/opt-in-flow';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import {
  catchNode,
  collect,
  completeNode,
  type Msg,
  next,
  PURPOSES,
  sleep,
  statusesOf,
  storeCredentials,
  storeNode,
  tempDir,
  until,
} from './consent-fixtures';

const ANNA = '+4915123456789';
const BOB = '+14155550123';
const PHONE_NUMBER_ID = '100200300500';
const ACCESS_TOKEN = 'opt-in-test-token';
const actor = 'test';

const form = {
  phone: '0049 151 23456789',
  consent: 'on',
  wording: 'Schickt mir den Newsletter per WhatsApp.',
  source: 'https://shop.example/newsletter',
};

type OptInMsg = Msg & {
  to?: string;
  language?: string;
  optIn?: {
    outcome: string;
    reason?: string;
    purpose?: string;
    language?: string;
    limit?: string;
    max?: number;
    days?: number;
    minutes?: number;
    message?: string;
  };
  consent?: {
    status: string;
    purpose: string;
    wording: string;
    method: string;
    source?: string;
    confirmationText?: string;
  };
};

interface Outcome {
  output: 1 | 2 | 3 | 4;
  msg: OptInMsg;
}

let messageCounter = 0;

function inbound(from: string, whatsapp: Record<string, unknown>): Msg {
  messageCounter += 1;
  return {
    payload: 'x',
    whatsapp: {
      from,
      messageId: `wamid.test${messageCounter}`,
      timestamp: Math.floor(Date.now() / 1000),
      phoneNumberId: PHONE_NUMBER_ID,
      ...whatsapp,
    },
  };
}

describe('opt-in-flow node', () => {
  let dir: ReturnType<typeof tempDir>;
  /** One store's keys per test: a reload opens the same database, which keeps a check of its key. */
  let keys: ReturnType<typeof storeCredentials>;
  let ledger: LedgerHandle;

  async function load(
    node: Record<string, unknown> = {},
    extra: Record<string, unknown>[] = [],
    store: Record<string, unknown> = {},
  ): Promise<void> {
    const flow = [
      { id: 'tab', type: 'tab' },
      storeNode('store', dir.path, store),
      {
        id: 'optin',
        z: 'tab',
        type: 'opt-in-flow',
        store: 'store',
        purpose: 'news',
        wires: [['out1'], ['out2'], ['out3'], ['out4']],
        ...node,
      },
      { id: 'out1', z: 'tab', type: 'helper' },
      { id: 'out2', z: 'tab', type: 'helper' },
      { id: 'out3', z: 'tab', type: 'helper' },
      { id: 'out4', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
      { id: 'finished', z: 'tab', type: 'complete', scope: ['optin'], wires: [['finishedOut']] },
      { id: 'finishedOut', z: 'tab', type: 'helper' },
      ...extra,
    ];
    await helper.load(
      [consentStore, optInFlow, catchNode(), completeNode(), configNode, sendNode] as never,
      flow as never,
      {
        store: keys,
        cfg: { accessToken: ACCESS_TOKEN },
      },
    );
    ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
  }

  /** Sends one message into the node and answers which output it came out of. */
  function optIn(msg: Msg): Promise<Outcome> {
    const outputs = ['out1', 'out2', 'out3', 'out4'].map((id) => helper.getNode(id));
    return new Promise((resolve) => {
      const listeners = outputs.map((node, index) => {
        const listener = (m: Msg) => {
          outputs.forEach((n, i) => {
            n.removeListener('input', listeners[i]);
          });
          resolve({ output: (index + 1) as Outcome['output'], msg: m as OptInMsg });
        };
        node.on('input', listener);
        return listener;
      });
      helper.getNode('optin').receive(msg as never);
    });
  }

  /** The outputs (and the catch node) any message leaves by from now on. */
  function watchOutputs(): string[] {
    const outputs: string[] = [];
    for (const id of ['out1', 'out2', 'out3', 'out4', 'caught']) helper.getNode(id).on('input', () => outputs.push(id));
    return outputs;
  }

  /** Sends one message into the node and waits until the node is done with it, whatever it sent on. */
  async function receiveAndSettle(msg: Msg): Promise<void> {
    const id = `settle-${++messageCounter}`;
    const finishedOut = helper.getNode('finishedOut');
    const finished = new Promise<void>((resolve) => {
      // The complete node also reports messages sent in before this one, some after their output arrived.
      const listener = (done: Msg) => {
        if (done._msgid !== id) return;
        finishedOut.removeListener('input', listener);
        resolve();
      };
      finishedOut.on('input', listener);
    });
    helper.getNode('optin').receive({ ...msg, _msgid: id } as never);
    await finished;
  }

  /** The text of every log line written from now on. */
  function logLines(): () => string[] {
    const spy = helper.log() as unknown as { args: [{ msg: unknown }][] };
    const from = spy.args.length;
    return () => spy.args.slice(from).map(([entry]) => String(entry.msg));
  }

  /** The text of every log line since the flow was loaded (helper.load starts a new log). */
  function loggedSinceLoad(): string[] {
    return (helper.log() as unknown as { args: [{ msg: unknown }][] }).args.map(([entry]) => String(entry.msg));
  }

  beforeEach(() => {
    dir = tempDir();
    keys = storeCredentials();
  });

  afterEach(async () => {
    await helper.unload();
    dir.remove();
  });

  /** ANNA's STOP, sent a minute ago: answers when, in Meta's whole seconds. */
  async function stoppedAMinuteAgo(): Promise<number> {
    const stopSent = Math.floor(Date.now() / 1000) - 60;
    await ledger.withdrawUnlessErased({
      subject: ANNA,
      channel: 'whatsapp-keyword',
      sentAt: stopSent * 1000,
      actor: 't',
    });
    return stopSent;
  }

  /** Form posts for ANNA at `times`, none answered: written by the store's ledger with its clock at those times. */
  async function requestedEarlier(times: readonly number[]): Promise<void> {
    let at = times[0];
    const earlier = await ConsentLedger.open({
      backend: 'sqlite',
      sqlitePath: join(dir.path, 'store.db'),
      ...parseStoreKeys(keys),
      purposes: PURPOSES as PurposeConfig[],
      clock: () => at,
    });
    for (const time of times) {
      at = time;
      await earlier.requestConsent({
        subject: ANNA,
        purpose: 'news',
        wording: form.wording,
        method: 'web-form',
        actor,
      });
    }
    await earlier.close();
  }

  describe('input A: consent requests from a form', () => {
    it('stores a pending consent with the exact wording and emits a German confirmation button', async () => {
      await load();
      const { output, msg } = await optIn({ payload: form });
      assert.equal(output, 1);
      assert.equal(msg.to, ANNA);
      assert.deepEqual(msg.payload, {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: {
            text: 'Sie möchten von uns über WhatsApp Nachrichten erhalten: „Schickt mir den Newsletter per WhatsApp.“\nBitte bestätigen Sie: Tippen Sie auf JA. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
          },
          action: { buttons: [{ type: 'reply', reply: { id: 'gdpr-confirm:news', title: 'JA' } }] },
        },
      });
      assert.equal(msg.optIn?.outcome, 'requested');
      assert.equal(msg.optIn?.language, 'de');
      const stored = await ledger.getConsent(ANNA, 'news');
      assert.equal(stored?.status, 'pending');
      assert.equal(stored?.wording, form.wording);
      assert.equal(stored?.method, 'web-form');
      assert.equal(stored?.source, form.source);
      assert.equal(stored?.language, 'de');
    });

    it('writes English to an English-speaking number', async () => {
      await load();
      const english = await optIn({ payload: { ...form, phone: BOB, wording: 'Send me the newsletter on WhatsApp.' } });
      const body = english.msg.payload as {
        interactive: { body: { text: string }; action: { buttons: { reply: { title: string } }[] } };
      };
      assert.equal(
        body.interactive.body.text,
        'You asked to hear from us on WhatsApp: "Send me the newsletter on WhatsApp."\nPlease confirm: tap YES. Reply STOP at any time to unsubscribe.',
      );
      assert.equal(body.interactive.action.buttons[0].reply.title, 'YES');
    });

    it('asks in the language of the wording the form showed, and stores the proof in it', async () => {
      await load();
      // An English page filled in with a German number: the person read English.
      const english = await optIn({ payload: { ...form, wording: 'Send me the newsletter on WhatsApp.' } });
      assert.equal(english.output, 1);
      assert.equal(english.msg.optIn?.language, 'en');
      const body = english.msg.payload as { interactive: { body: { text: string } } };
      assert.match(body.interactive.body.text, /^You asked to hear from us on WhatsApp: "Send me the newsletter/);
      const proof = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual([proof?.wording, proof?.language], ['Send me the newsletter on WhatsApp.', 'en']);
      // A form whose language field says English but which showed the German wording: the wording is what she read.
      const german = await optIn({ payload: { ...form, phone: BOB, language: 'en' } });
      assert.equal(german.msg.optIn?.language, 'de');
      const stored = await ledger.getConsent(BOB, 'news');
      assert.deepEqual([stored?.wording, stored?.language], ['Schickt mir den Newsletter per WhatsApp.', 'de']);
    });

    for (const [what, payload, reason] of [
      ['an unticked box', { ...form, consent: undefined }, 'consent-not-ticked'],
      ['a box that is only true by default', { ...form, consent: 'yes' }, 'consent-not-ticked'],
      ['a pre-ticked box', { ...form, prechecked: true }, 'prechecked'],
      ['empty wording', { ...form, wording: '  ' }, 'missing-wording'],
      [
        'a wording the purpose does not have',
        { ...form, wording: 'Sie haben gewonnen: https://x.example' },
        'unknown-wording',
      ],
      ['an invalid number', { ...form, phone: '0151' }, 'invalid-phone'],
    ] as const) {
      it(`rejects ${what} on output 3 with the reason "${reason}" and stores nothing`, async () => {
        await load();
        const { output, msg } = await optIn({ payload });
        assert.equal(output, 3);
        assert.equal(msg.optIn?.outcome, 'rejected');
        assert.equal(msg.optIn?.reason, reason);
        assert.deepEqual(msg.payload, payload, 'the request is passed on unchanged');
        assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'none');
        assert.equal((await ledger.exportSubject(ANNA, actor)).found, false);
      });
    }

    it('warns once per deploy that a wording or purpose the store lacks, or a request without a phone field, makes every sign-up through the form fail', async () => {
      await load({ allowMsgPurpose: true });
      const drifted = { ...form, wording: 'Schickt mir bitte den Newsletter per WhatsApp.' };
      for (const phone of [ANNA, BOB]) {
        assert.equal((await optIn({ payload: { ...drifted, phone } })).msg.optIn?.reason, 'unknown-wording');
      }
      const unknownPurpose = { ...form, purpose: 'rabatte', phone: BOB };
      assert.equal((await optIn({ payload: unknownPurpose })).msg.optIn?.reason, 'unknown-purpose');
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('form-unknown')),
        ['opt-in-flow.log.form-unknown-wording', 'opt-in-flow.log.form-unknown-purpose'],
      );
      // The number under another name than phone: refused as an invalid number, and the integrator is told why.
      for (const number of [ANNA, BOB]) {
        const { phone: _phone, ...withoutPhone } = form;
        assert.equal((await optIn({ payload: { ...withoutPhone, number } })).msg.optIn?.reason, 'invalid-phone');
      }
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('form-no-phone-field')),
        ['opt-in-flow.log.form-no-phone-field'],
        'once per deploy',
      );
      // A well-formed request warns about nothing.
      await helper.unload();
      await load();
      assert.equal((await optIn({ payload: form })).output, 1);
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('form-unknown') || line.includes('form-no-phone')),
        [],
      );
    });

    it('takes any wording only in a node saved before the check, and warns about it at every start', async () => {
      await load({ configVersion: 2 });
      const stranger = { ...form, wording: 'Sie haben gewonnen: https://x.example' };
      const { output, msg } = await optIn({ payload: stranger });
      assert.equal(output, 1);
      assert.equal(msg.consent?.wording, stranger.wording);
      assert.match(JSON.stringify(msg.payload), /Sie haben gewonnen/);
      assert.equal(loggedSinceLoad().filter((line) => line.includes('any-wording')).length, 1);
      await helper.unload();
      await load({ configVersion: 3 });
      assert.equal((await optIn({ payload: { ...stranger, phone: BOB } })).msg.optIn?.reason, 'unknown-wording');
      assert.equal((await ledger.getConsent(BOB, 'news'))?.status, undefined);
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('any-wording')),
        [],
      );
    });

    it("explains a rejection in the form's language, whatever language Node-RED runs in", async () => {
      await load();
      const german = await optIn({ payload: { ...form, consent: undefined, language: 'de' } });
      assert.equal(german.msg.optIn?.language, 'de');
      assert.equal(
        (german.msg.optIn as { message?: string }).message,
        'Bitte kreuzen Sie das Einwilligungskästchen an, um sich anzumelden.',
      );
      const english = await optIn({ payload: { ...form, consent: undefined, language: 'en' } });
      assert.equal((english.msg.optIn as { message?: string }).message, 'Please tick the consent box to sign up.');
    });

    it('rejects a purpose the store does not know, and a request purpose unless allowed', async () => {
      await load({ purpose: 'lottery' });
      assert.equal((await optIn({ payload: form })).msg.optIn?.reason, 'unknown-purpose');
      await helper.unload();
      await load({ allowMsgPurpose: true });
      const orders = await optIn({ payload: { ...form, purpose: 'orders', wording: 'Bestell-Updates per WhatsApp.' } });
      assert.equal(orders.output, 1);
      assert.equal(orders.msg.optIn?.purpose, 'orders');
      assert.equal((await ledger.getConsent(ANNA, 'orders'))?.status, 'pending');
      assert.equal((await optIn({ payload: { ...form, purpose: 'lottery' } })).msg.optIn?.reason, 'unknown-purpose');
    });

    it('after an erasure accepts only a request made now, not a replayed old one', async () => {
      await load();
      await ledger.giveConsent({ subject: ANNA, purpose: 'news', wording: 'old', method: 'keyword', actor });
      await ledger.eraseSubject(ANNA, actor);
      const replay = await optIn({
        payload: { ...form, submittedAt: new Date(Date.now() - 72 * 3_600_000).toISOString() },
      });
      assert.equal(replay.output, 3);
      assert.equal(replay.msg.optIn?.reason, 'suppressed');
      // Shown to whoever typed the number in: it must not tell them that this person asked for erasure.
      assert.doesNotMatch(String((replay.msg.optIn as { message?: string }).message), /eras|lösch/i);
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'erased');
      // Made now: she may be signing up again herself. One request goes; within 30 days of her erasure no more.
      const fresh = await optIn({ payload: { ...form, submittedAt: new Date().toISOString() } });
      assert.equal(fresh.output, 1);
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'pending');
    });

    it('sends one request, not more, to a number that answered one with STOP; the form reads as for a sent one', async () => {
      // A form post eleven minutes ago: the next may go once the ten minutes after it are over.
      await requestedEarlier([Date.now() - 11 * 60_000]);
      await load();
      // She never asked: she answers the request with STOP, as it tells her to (stop-handler does this).
      await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor });
      // The next post may be hers, signing up again: it goes. She answers it with STOP too.
      assert.equal((await optIn({ payload: form })).output, 1);
      await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor });
      assert.equal((await optIn({ payload: { ...form, phone: BOB } })).output, 1);
      for (const language of ['en', 'de']) {
        const again = await optIn({ payload: { ...form, language } });
        assert.equal(again.output, 3);
        assert.equal(again.msg.optIn?.reason, 'recently-opted-out');
        // Whoever typed the number in learns nothing about its owner: the page reads as for a request on its way.
        const pending = await optIn({ payload: { ...form, phone: BOB, language } });
        assert.equal(pending.msg.optIn?.reason, 'request-pending');
        const message = (m: typeof again) => (m.msg.optIn as { message?: string }).message;
        assert.equal(message(again), message(pending));
      }
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'withdrawn');
    });

    it('sends no fourth request for a number asked three times today, and names the limit', async () => {
      await requestedEarlier([180, 120, 60].map((minutes) => Date.now() - minutes * 60_000));
      await load();
      const fourth = await optIn({ payload: form });
      assert.deepEqual([fourth.output, fourth.msg.optIn?.reason], [3, 'too-many-requests']);
      assert.deepEqual([fourth.msg.optIn?.limit, fourth.msg.optIn?.max], ['per-day', 3]);
    });

    it('sends no request minutes after the number said STOP to the last one, and names the limit', async () => {
      await load();
      assert.equal((await optIn({ payload: form })).output, 1);
      await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor });
      const again = await optIn({ payload: form });
      assert.deepEqual([again.output, again.msg.optIn?.reason], [3, 'too-many-requests']);
      assert.deepEqual([again.msg.optIn?.limit, again.msg.optIn?.minutes], ['resend', 10]);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'withdrawn', 'nothing asked again');
    });

    it('sends no fourth request typed in for a number that left three unanswered this month', async () => {
      const days = [4, 3, 2].map((n) => Date.now() - n * 86_400_000);
      await requestedEarlier(days);
      await load();
      const fourth = await optIn({ payload: form });
      assert.deepEqual([fourth.output, fourth.msg.optIn?.reason], [3, 'too-many-requests']);
      // Only the flow learns which limit it was, for its own records; the page's text is the same.
      assert.deepEqual([fourth.msg.optIn?.limit, fourth.msg.optIn?.max, fourth.msg.optIn?.days], ['unanswered', 3, 30]);
      // Read as for a request on its way: whoever typed the number in learns nothing about its owner.
      const sent = await optIn({ payload: { ...form, phone: BOB } });
      assert.equal(sent.output, 1);
      const message = (m: typeof sent) => (m.msg.optIn as { message?: string }).message;
      assert.equal(message(fourth), message(await optIn({ payload: { ...form, phone: BOB } })));
      const record = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual(
        [record?.status, record?.requestedAt],
        ['pending', days[2]],
        'the last one is still hers to confirm',
      );
    });

    it('warns when a slow store made a form answer later than the floor, at most once in ten minutes', async () => {
      await load();
      const slowWarnings = () => loggedSinceLoad().filter((line) => line.includes('slow-store'));
      assert.equal((await optIn({ payload: form })).output, 1);
      assert.deepEqual(slowWarnings(), [], 'an answer within the floor says nothing');
      // Another program holds the database's write lock for longer than the floor: the next new number waits for it.
      const { db } = openSqliteDatabase(join(dir.path, 'store.db'));
      try {
        db.exec('PRAGMA busy_timeout = 10000');
        for (const phone of [BOB, '+4915799887766']) {
          db.exec('BEGIN IMMEDIATE');
          const released = sleep(FORM_ANSWER_MINIMUM_MS + 300).then(() => db.exec('COMMIT'));
          assert.equal((await optIn({ payload: { ...form, phone } })).output, 1);
          await released;
        }
      } finally {
        db.close();
      }
      assert.equal(slowWarnings().length, 1, 'said once, not for every slow answer');
    });

    it('sends no second request to a person who already consented under this wording', async () => {
      await load();
      await ledger.giveConsent({ subject: ANNA, purpose: 'news', wording: 'anything', method: 'keyword', actor });
      const again = await optIn({ payload: form });
      assert.equal(again.output, 3);
      assert.equal(again.msg.optIn?.outcome, 'already-given');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'given');
    });

    it("answers a number that already consented as one with a request on its way, in the form's language", async () => {
      await load();
      await ledger.giveConsent({ subject: ANNA, purpose: 'news', wording: 'anything', method: 'keyword', actor });
      assert.equal((await optIn({ payload: { ...form, phone: BOB } })).output, 1);
      for (const language of ['de', 'en']) {
        const wording = language === 'de' ? form.wording : 'Send me the newsletter on WhatsApp.';
        const pending = await optIn({ payload: { ...form, phone: BOB, language, wording } });
        assert.equal(pending.msg.optIn?.reason, 'request-pending');
        const given = await optIn({ payload: { ...form, language, wording } });
        assert.equal(given.msg.optIn?.outcome, 'already-given');
        // A page showing msg.optIn.message must not tell whoever typed the number in that its owner signed up.
        const text = (given.msg.optIn as { message?: string }).message;
        assert.ok(text, `${language}: a text to show`);
        assert.equal(text, (pending.msg.optIn as { message?: string }).message, language);
        assert.equal(given.msg.optIn?.language, language);
      }
      // A form without a language field, numbers typed with 00: both pages in the language of the confirmation.
      const other = '0049 151 23456780';
      assert.equal((await optIn({ payload: { ...form, phone: other } })).output, 1);
      const pending = await optIn({ payload: { ...form, phone: other } });
      const given = await optIn({ payload: form });
      assert.deepEqual([given.msg.optIn?.outcome, pending.msg.optIn?.reason], ['already-given', 'request-pending']);
      assert.equal(
        (given.msg.optIn as { message?: string }).message,
        (pending.msg.optIn as { message?: string }).message,
      );
      assert.equal(pending.msg.optIn?.language, 'de');
    });

    it('a form sent again minutes later sends no second request, and says so as it would say "sent"', async () => {
      await load();
      const first = await optIn({ payload: form });
      assert.equal(first.output, 1);
      const again = await optIn({ payload: form });
      assert.equal(again.output, 3, 'nothing to send');
      assert.equal(again.msg.optIn?.outcome, 'rejected');
      assert.equal(again.msg.optIn?.reason, 'request-pending');
      // Whoever typed the number in learns nothing about it: the text reads as if a request were on its way, in the
      // language the request went out in (German: the form sent no language, and the number is German).
      assert.match(String((again.msg.optIn as { message?: string }).message), /Bestätigungsanfrage unterwegs/);
      assert.equal(
        (await ledger.getConsent(ANNA, 'news'))?.requestedAt,
        (first.msg.consent as { requestedAt?: number }).requestedAt,
      );
    });

    it('sends at most the configured number of requests a minute; more are refused and store nothing', async () => {
      await load({ maxRequestsPerMinute: 2 });
      const numbers = ['+4915111111111', '+4915122222222', '+4915133333333'];
      const outcomes = [];
      for (const phone of numbers) outcomes.push(await optIn({ payload: { ...form, phone } }));
      assert.deepEqual(
        outcomes.map((o) => [o.output, o.msg.optIn?.reason ?? o.msg.optIn?.outcome]),
        [
          [1, 'requested'],
          [1, 'requested'],
          [3, 'rate-limited'],
        ],
      );
      assert.match(String((outcomes[2].msg.optIn as { message?: string }).message), /in einer Minute/);
      assert.equal(await ledger.getConsent(numbers[2], 'news'), undefined, 'nothing stored');
    });

    it('keeps to the limit when form posts arrive together, and stores nothing for those refused', async () => {
      await load({ maxRequestsPerMinute: 2 });
      const sent = collect('out1');
      const refused = collect('out3');
      const numbers = ['+4915111111111', '+4915122222222', '+4915133333333', '+4915144444444', '+4915155555555'];
      for (const phone of numbers) helper.getNode('optin').receive({ payload: { ...form, phone } } as never);
      await until(() => sent.length + refused.length === numbers.length, 'every post answered');
      assert.equal(sent.length, 2, 'requests sent');
      assert.deepEqual(
        refused.map((m) => (m as OptInMsg).optIn?.reason),
        ['rate-limited', 'rate-limited', 'rate-limited'],
      );
      const stored = await Promise.all(numbers.map((phone) => ledger.getConsent(phone, 'news')));
      assert.equal(stored.filter((record) => record !== undefined).length, 2, 'only those sent are stored');
    });

    it('a request that sends nothing (already pending) still takes its place: the limit tells nothing about the number', async () => {
      await load({ maxRequestsPerMinute: 2 });
      assert.equal((await optIn({ payload: form })).output, 1);
      const again = await optIn({ payload: form });
      assert.equal(again.msg.optIn?.reason, 'request-pending');
      // Had the known number given its place back, this post would go out: whoever filled the minute up to it would
      // learn that the number was signed up or asked already.
      const other = await optIn({ payload: { ...form, phone: '+4915111111111' } });
      assert.equal(other.msg.optIn?.reason, 'rate-limited');
      assert.equal(await ledger.getConsent('+4915111111111', 'news'), undefined, 'nothing stored');
    });

    it('a request that fails (a misconfigured template) gives its place in the minute back', async () => {
      await load({ mode: 'template', templateName: '', maxRequestsPerMinute: 1 });
      for (const phone of [ANNA, '+4915111111111']) {
        const caught = next('caught');
        helper.getNode('optin').receive({ payload: { ...form, phone } } as never);
        assert.equal(((await caught).error as { code?: string }).code, 'invalid-template-name', phone);
      }
    });

    it('reports a misconfigured template as an error and stores nothing', async () => {
      await load({ mode: 'template', templateName: '' });
      const caught = next('caught');
      helper.getNode('optin').receive({ payload: form } as never);
      assert.equal(((await caught).error as { code?: string }).code, 'invalid-template-name');
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'none');
    });
  });

  describe('input A: every outcome of a form request takes the same time', () => {
    /** Sends a form request in and answers where it came out and how long after it was sent in. */
    async function timed(payload: Record<string, unknown>): Promise<Outcome & { ms: number }> {
      const sentAt = performance.now();
      const outcome = await optIn({ payload });
      return { ...outcome, ms: performance.now() - sentAt };
    }

    it('passes a request for a new number and one for a pending number on no sooner than the minimum', async () => {
      await load();
      // A new number is written to the ledger; a pending one is not: without the wait the second is answered sooner.
      const requested = await timed(form);
      assert.equal(requested.output, 1);
      const pending = await timed(form);
      assert.equal(pending.msg.optIn?.reason, 'request-pending');
      await ledger.giveConsent({ subject: BOB, purpose: 'news', wording: 'anything', method: 'keyword', actor });
      const alreadyGiven = await timed({ ...form, phone: BOB });
      assert.equal(alreadyGiven.msg.optIn?.outcome, 'already-given');
      for (const outcome of [requested, pending, alreadyGiven]) {
        assert.ok(outcome.ms >= FORM_ANSWER_MINIMUM_MS, `${outcome.msg.optIn?.outcome} after ${outcome.ms} ms`);
      }
    });

    it('passes a refused request, a rate-limited one (with when to try again) and a failure on no sooner either', async () => {
      await load({ maxRequestsPerMinute: 1 });
      const unticked = await timed({ ...form, consent: undefined });
      assert.equal(unticked.msg.optIn?.reason, 'consent-not-ticked');
      assert.equal((await optIn({ payload: form })).output, 1);
      const limited = await timed({ ...form, phone: '+4915111111111' });
      assert.equal(limited.msg.optIn?.reason, 'rate-limited');
      const retryAfter = (limited.msg.optIn as { retryAfterSeconds?: number }).retryAfterSeconds;
      assert.ok(retryAfter !== undefined && retryAfter >= 59 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      for (const outcome of [unticked, limited]) {
        assert.ok(outcome.ms >= FORM_ANSWER_MINIMUM_MS, `${outcome.msg.optIn?.reason} after ${outcome.ms} ms`);
      }
      await helper.unload();
      await load({ mode: 'template', templateName: '' });
      const sentAt = performance.now();
      const caught = next('caught');
      helper.getNode('optin').receive({ payload: form } as never);
      assert.equal(((await caught).error as { code?: string }).code, 'invalid-template-name');
      const ms = performance.now() - sentAt;
      assert.ok(ms >= FORM_ANSWER_MINIMUM_MS, `the failure after ${ms} ms`);
    });

    it('drops the outcome still waiting when the node closes (a redeploy), and sends nothing after', async () => {
      await load();
      const outputs = watchOutputs();
      helper.getNode('optin').receive({ payload: form } as never);
      while ((await ledger.getConsent(ANNA, 'news'))?.status !== 'pending') await sleep(10);
      await (helper.getNode('optin') as unknown as { close(removed: boolean): Promise<void> }).close(false);
      await sleep(FORM_ANSWER_MINIMUM_MS + 200);
      assert.deepEqual(outputs, []);
    });
  });

  describe('input A: the default country for numbers typed without country code', () => {
    it("reads a national number with the node's country and stores the consent under the full number", async () => {
      await load({ defaultCountry: 'de' });
      const { output, msg } = await optIn({ payload: { ...form, phone: '0151 23456789' } });
      assert.equal(output, 1);
      assert.equal(msg.to, ANNA);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      // A number that carries its country code is read as written, whatever the setting.
      const american = await optIn({
        payload: { ...form, phone: '+1 415 555 0123', wording: 'Send me the newsletter on WhatsApp.' },
      });
      assert.equal(american.msg.to, BOB);
    });

    it("reads form numbers in the store's country when the node names none, and warns when the two differ", async () => {
      await load({}, [], { defaultCountry: 'DE' });
      const { output, msg } = await optIn({ payload: { ...form, phone: '0151 23456789' } });
      assert.equal(output, 1);
      assert.equal(msg.to, ANNA);
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('country-differs')),
        [],
      );
      await helper.unload();
      await load({ defaultCountry: 'AT' }, [], { defaultCountry: 'DE' });
      assert.deepEqual(
        loggedSinceLoad().filter((line) => line.includes('country-differs')),
        ['opt-in-flow.warn.country-differs'],
      );
    });

    it('explains an invalid number without asking for a country code the form does not need', async () => {
      await load({ defaultCountry: 'DE' });
      const { output, msg } = await optIn({ payload: { ...form, phone: '0151', language: 'de' } });
      assert.equal(output, 3);
      assert.equal(msg.optIn?.reason, 'invalid-phone', 'the reason code stays the same for flows');
      assert.equal(
        (msg.optIn as { message?: string }).message,
        'Bitte geben Sie eine gültige Mobilnummer ein. Eine Nummer aus einem anderen Land braucht ihre Ländervorwahl, z. B. +43 664 1234567.',
      );
      // Typed with its country code, with or without a default country: the code is there, the number is wrong.
      for (const phone of ['+44 7700 900123', '0049 151 1234']) {
        const invalid = await optIn({ payload: { ...form, phone, language: 'de' } });
        assert.equal(invalid.msg.optIn?.reason, 'invalid-phone');
        assert.equal(
          (invalid.msg.optIn as { message?: string }).message,
          'Bitte prüfen Sie die Nummer: Sie ist keine gültige Mobilnummer in dem Land, das ihre Vorwahl nennt.',
        );
      }
    });

    it('refuses a country code typed without + or 00 and asks for one, in the language of the form', async () => {
      await load({ defaultCountry: 'DE' });
      const german = await optIn({ payload: { ...form, phone: '44 7911 123456', language: 'de' } });
      assert.equal(german.output, 3);
      assert.equal(german.msg.optIn?.reason, 'ambiguous-phone');
      assert.equal(
        (german.msg.optIn as { message?: string }).message,
        'Diese Nummer lässt sich auf zwei Arten lesen. Bitte geben Sie sie mit + oder 00 und der Ländervorwahl ein, z. B. +49 151 23456789 oder 0049 151 23456789.',
      );
      const english = await optIn({
        payload: { ...form, phone: '49 151 23456789', language: 'en', wording: 'Send me the newsletter on WhatsApp.' },
      });
      assert.equal(english.msg.optIn?.reason, 'ambiguous-phone');
      assert.match(String((english.msg.optIn as { message?: string }).message), /with \+ or 00 and its country code/);
      for (const phone of ['+49447911123456', '+447911123456', '+494915123456789', ANNA]) {
        assert.equal((await ledger.exportSubject(phone, actor)).found, false, `nothing stored for ${phone}`);
      }
      const withPlus = await optIn({ payload: { ...form, phone: '+44 7911 123456' } });
      assert.equal(withPlus.msg.to, '+447911123456', 'with a plus it is sent');
    });

    it('without a country refuses the national number and stores nothing', async () => {
      await load();
      const { output, msg } = await optIn({ payload: { ...form, phone: '0151 23456789' } });
      assert.equal(output, 3);
      assert.equal(msg.optIn?.reason, 'invalid-phone');
      assert.match(String((msg.optIn as { message?: string }).message), /with its country code, e\.g\. \+49/);
      assert.equal((await ledger.exportSubject(ANNA, actor)).found, false);
    });

    it('shows a country libphonenumber does not know in red at deploy and refuses requests, storing nothing', async () => {
      await load({ defaultCountry: 'XX' });
      // load() waited for the store, so a "ready" status would have come by now.
      assert.deepEqual(
        statusesOf('optin').map((s) => s.shape === 'dot' && s.fill),
        ['red'],
        'red at deploy, and no "ready" hides it',
      );
      const caught = next('caught');
      helper.getNode('optin').receive({ payload: { ...form, phone: '0151 23456789' } } as never);
      assert.equal(((await caught).error as { code?: string }).code, 'invalid-country');
      assert.equal((await ledger.exportSubject(ANNA, actor)).found, false);
    });
  });

  describe('input B: replies from whatsapp-webhook', () => {
    it('confirms a pending request with the YES button and answers in German', async () => {
      await load();
      await optIn({ payload: form });
      const { output, msg } = await optIn(
        inbound(ANNA, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
        }),
      );
      assert.equal(output, 2);
      assert.equal(msg.to, ANNA);
      assert.equal(
        msg.payload,
        'Vielen Dank, Ihre Einwilligung ist bestätigt: Rundbrief. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
      );
      assert.equal(msg.optIn?.outcome, 'confirmed');
      assert.equal(msg.consent?.status, 'given');
      assert.equal(msg.consent?.wording, form.wording);
      const stored = await ledger.getConsent(ANNA, 'news');
      assert.equal(stored?.status, 'given');
      assert.equal(stored?.confirmationText, 'JA');
      assert.equal((await ledger.checkConsent(ANNA, 'news')).allowed, true);
    });

    it("answers a second tap on the request's button that she is signed up already; a tap after STOP passes on", async () => {
      await load({ alreadyTextEn: 'Already in: {label}.', alreadyTextDe: 'Schon angemeldet: {label}.' });
      await optIn({ payload: form });
      const tap = () =>
        inbound(ANNA, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
        });
      assert.equal((await optIn(tap())).msg.optIn?.outcome, 'confirmed');
      const given = await ledger.getConsent(ANNA, 'news');
      const again = await optIn(tap());
      assert.equal(again.output, 2);
      assert.deepEqual(again.msg.optIn, { outcome: 'already-signed-up', purpose: 'news', language: 'de' });
      assert.equal(again.msg.to, ANNA);
      // The node's own text, in her language (the defaults are in the test of a start keyword below).
      assert.equal(again.msg.payload, 'Schon angemeldet: Rundbrief.');
      assert.deepEqual(await ledger.getConsent(ANNA, 'news'), given, 'nothing changes');
      // Meta delivering her first tap again (the webhook failed after it was taken): the confirmation, answered again.
      const firstTap = inbound(ANNA, {
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
        messageId: given?.confirmationMessageId,
      });
      const redelivered = await optIn(firstTap);
      assert.deepEqual([redelivered.output, redelivered.msg.optIn?.outcome], [2, 'confirmed']);
      assert.match(String(redelivered.msg.payload), /^Vielen Dank, Ihre Einwilligung ist bestätigt: Rundbrief\./);
      assert.deepEqual(await ledger.getConsent(ANNA, 'news'), given, 'a delivery again changes nothing');
      // A typed yes with nothing pending may answer another question of the flow's: it passes on, as before.
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'Ja' }))).output, 4);
      await ledger.withdrawUnlessErased({ subject: ANNA, channel: 'whatsapp-keyword', actor });
      assert.equal((await optIn(tap())).output, 4, 'after STOP the old button signs nobody up and says nothing');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'withdrawn');
      // In English, with the node's own text.
      await optIn({ payload: { ...form, phone: BOB, wording: 'Send me the newsletter on WhatsApp.' } });
      const bobTap = () =>
        inbound(BOB, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'YES' },
        });
      await optIn(bobTap());
      assert.equal((await optIn(bobTap())).msg.payload, 'Already in: WhatsApp newsletter.');
    });

    it('confirms with a typed keyword and answers in English', async () => {
      await load();
      await optIn({ payload: { ...form, phone: BOB, wording: 'Send me the newsletter on WhatsApp.' } });
      const { output, msg } = await optIn(inbound(BOB, { type: 'text', text: 'Yes!' }));
      assert.equal(output, 2);
      assert.equal(
        msg.payload,
        'Thank you, your consent is confirmed: WhatsApp newsletter. Reply STOP at any time to unsubscribe.',
      );
      assert.equal((await ledger.getConsent(BOB, 'news'))?.confirmationText, 'Yes!');
    });

    it("names the form's language for whatsapp-send's opt-out line, not the number's, on the request and its answers", async () => {
      await load();
      const english = { ...form, language: 'en', wording: 'Send me the newsletter on WhatsApp.' };
      const requested = await optIn({ payload: english });
      assert.deepEqual([requested.output, requested.msg.language], [1, 'en']);
      const no = await optIn(inbound(ANNA, { type: 'text', text: 'No' }));
      assert.deepEqual([no.msg.optIn?.outcome, no.msg.language], ['refused', 'en']);
      assert.match(String(no.msg.payload), /^Understood/);
    });

    it('answers a reply after expiry with a clear "expired" outcome on output 2', async () => {
      await load();
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'news',
        wording: 'News',
        method: 'web-form',
        actor,
        expiresInMs: 1,
      });
      await sleep(5);
      const { output, msg } = await optIn(inbound(ANNA, { type: 'text', text: 'JA' }));
      assert.equal(output, 2);
      assert.deepEqual(msg.optIn, { outcome: 'expired', reason: 'request-expired', purpose: 'news', language: 'de' });
      assert.equal(msg.payload, 'Ihre Anmeldeanfrage ist leider abgelaufen. Bitte melden Sie sich erneut an.');
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'expired');
    });

    it('answers a late YES in the language the request was made in, not the one of the number', async () => {
      await load();
      // The English form, a German number.
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'news',
        wording: 'News',
        language: 'en',
        method: 'web-form',
        actor,
        expiresInMs: 1,
      });
      await sleep(5);
      const { output, msg } = await optIn(inbound(ANNA, { type: 'text', text: 'YES' }));
      assert.equal(output, 2);
      assert.deepEqual(msg.optIn, { outcome: 'expired', reason: 'request-expired', purpose: 'news', language: 'en' });
      assert.doesNotMatch(String(msg.payload), /abgelaufen/);
    });

    it('passes everything that is not an opt-in reply through on output 4, unchanged', async () => {
      await load();
      const questions = inbound(ANNA, { type: 'text', text: 'When does my parcel arrive?' });
      const other = await optIn(questions);
      assert.equal(other.output, 4);
      assert.deepEqual(other.msg, questions);
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'YES' }))).output, 4, 'a YES without a request');
      await optIn({ payload: form });
      const foreign = inbound(ANNA, {
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'gdpr-confirm:orders', title: 'JA' },
      });
      assert.equal((await optIn(foreign)).output, 4, "another node's purpose");
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'START' }))).output, 4, 'single step is off');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
    });

    it('confirms nothing with a forwarded JA: it passes on output 4 and the request stays pending', async () => {
      await load();
      await optIn({ payload: form });
      for (const context of [{ forwarded: true }, { frequentlyForwarded: true }]) {
        const forwarded = inbound(ANNA, { type: 'text', text: 'JA', context });
        const { output, msg } = await optIn(forwarded);
        assert.equal(output, 4, JSON.stringify(context));
        assert.deepEqual(msg, forwarded, 'unchanged');
      }
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'JA' }))).output, 2, 'her own JA confirms');
    });

    /** Two nodes in a row, as in a bot: the newsletter's passes what is not its own on to the order updates'. */
    function loadNewsThenOrders(): Promise<void> {
      return load({ wires: [['out1'], ['out2'], ['out3'], ['out4', 'ordersOptIn']] }, [
        {
          id: 'ordersOptIn',
          z: 'tab',
          type: 'opt-in-flow',
          store: 'store',
          purpose: 'orders',
          wires: [[], ['ordersOut'], [], ['ordersOther']],
        },
        { id: 'ordersOut', z: 'tab', type: 'helper' },
        { id: 'ordersOther', z: 'tab', type: 'helper' },
      ]);
    }

    /** A request for the newsletter, then one for order updates; each sent as `messageIds` says, when given. */
    async function requestNewsThenOrders(messageIds: { news?: string; orders?: string } = {}): Promise<void> {
      const requests = [
        { purpose: 'news', wording: form.wording },
        { purpose: 'orders', wording: 'Bestell-Updates per WhatsApp.' },
      ] as const;
      for (const { purpose, wording } of requests) {
        const { requestedAt } = await ledger.requestConsent({
          subject: ANNA,
          purpose,
          wording,
          method: 'web-form',
          actor,
        });
        const messageId = messageIds[purpose];
        if (messageId)
          await ledger.requestSent(ANNA, purpose, messageId, { requestedAt: requestedAt as number, actor });
        await sleep(5);
      }
    }

    it('a typed JA answers the request sent last: the node of another purpose gets it, and nothing else changes', async () => {
      await loadNewsThenOrders();
      await requestNewsThenOrders();
      const ordersConfirmed = next('ordersOut');
      const typed = inbound(ANNA, { type: 'text', text: 'JA' });
      const { output, msg } = await optIn(typed);
      assert.equal(output, 4, 'the newsletter node passes it on');
      assert.deepEqual(msg, typed, 'unchanged');
      assert.equal(((await ordersConfirmed).optIn as { outcome?: string }).outcome, 'confirmed');
      assert.equal((await ledger.getConsent(ANNA, 'orders'))?.status, 'given');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending', 'the earlier request is still open');
      // The newsletter's request is now the one sent last: the next JA is its own.
      const again = await optIn(inbound(ANNA, { type: 'text', text: 'JA' }));
      assert.equal(again.output, 2);
      assert.equal(again.msg.optIn?.purpose, 'news');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'given');
    });

    it('a typed JA quoting a request confirms that one, also when another was sent last; quoting another message, none', async () => {
      await loadNewsThenOrders();
      await requestNewsThenOrders({ news: 'wamid.news-request', orders: 'wamid.orders-request' });
      const callBack = inbound(ANNA, { type: 'text', text: 'JA', context: { id: 'wamid.shall-we-call-you-back' } });
      const passedOn = next('ordersOther');
      const other = await optIn(callBack);
      assert.equal(other.output, 4, 'the newsletter node passes it on');
      assert.deepEqual(await passedOn, callBack, 'so does the order updates node, unchanged');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      assert.equal((await ledger.getConsent(ANNA, 'orders'))?.status, 'pending');

      const toNews = await optIn(inbound(ANNA, { type: 'text', text: 'JA', context: { id: 'wamid.news-request' } }));
      assert.equal(toNews.output, 2);
      assert.equal(toNews.msg.optIn?.purpose, 'news');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'given');
      assert.equal((await ledger.getConsent(ANNA, 'orders'))?.status, 'pending', 'the request sent last is still open');
    });

    it('with the request purpose allowed, confirms the purpose the button names and ignores unknown ones', async () => {
      await load({ allowMsgPurpose: true });
      const requested = await optIn({
        payload: { ...form, purpose: 'orders', wording: 'Bestell-Updates per WhatsApp.' },
      });
      assert.equal(requested.output, 1);
      const unknown = inbound(ANNA, {
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'gdpr-confirm:lottery', title: 'JA' },
      });
      assert.equal((await optIn(unknown)).output, 4);
      const orders = inbound(ANNA, {
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'gdpr-confirm:orders', title: 'JA' },
      });
      const confirmed = await optIn(orders);
      assert.equal(confirmed.output, 2);
      assert.equal(confirmed.msg.consent?.purpose, 'orders');
      assert.equal((await ledger.getConsent(ANNA, 'orders'))?.status, 'given');
    });

    it('signs up in one step with a start keyword when allowed', async () => {
      await load({ allowSingleStep: true });
      const { output, msg } = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden' }));
      assert.equal(output, 2);
      assert.equal(msg.optIn?.outcome, 'given');
      assert.equal(
        msg.payload,
        'Sie sind jetzt angemeldet: „Schickt mir den Newsletter per WhatsApp.“\nAntworten Sie jederzeit mit STOP, um sich abzumelden.',
      );
      const stored = await ledger.getConsent(ANNA, 'news');
      assert.equal(stored?.status, 'given');
      assert.equal(stored?.method, 'keyword');
      assert.equal(stored?.wording, 'Schickt mir den Newsletter per WhatsApp.');
      assert.equal(stored?.confirmationText, 'Anmelden');
      // How she signed up is kept as a confirmation's is: by keyword, which one, at which business number.
      assert.equal(stored?.confirmationVia, 'keyword');
      assert.equal(stored?.confirmationMatch, 'ANMELDEN');
      assert.equal(stored?.requestPhoneNumberId, PHONE_NUMBER_ID);
    });

    it('signs up in the language of her keyword: SUBSCRIBE from a German number, in English', async () => {
      await load({ allowSingleStep: true });
      const { output, msg } = await optIn(inbound(ANNA, { type: 'text', text: 'Subscribe' }));
      assert.equal(output, 2);
      assert.equal(msg.optIn?.language, 'en');
      assert.match(String(msg.payload), /^You are now signed up/);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.language, 'en');
    });

    describe('double opt-in started by a start keyword', () => {
      /** Her message `secondsAfter` now, recorded as whatsapp-webhook records it before the flow sees it. */
      const written = async (secondsAfter: number, whatsapp: Record<string, unknown>) => {
        const timestamp = Math.floor(Date.now() / 1000) + secondsAfter;
        await ledger.recordInbound(ANNA, timestamp * 1000);
        return inbound(ANNA, { ...whatsapp, timestamp });
      };

      it('answers the keyword with the confirmation request, and her typed yes signs her up', async () => {
        // Single step ticked as well: asking wins, so that ticking both never signs anyone up unasked. Template mode
        // (for the form): she wrote just now, so her request is a button message, which a privacy notice may precede.
        await load({
          confirmStartKeyword: true,
          allowSingleStep: true,
          mode: 'template',
          templateName: 'consent_request',
          templateLanguage: 'auto',
        });
        // Meta's clock a few seconds ahead of ours: her keyword seems written after the request it asked for.
        const asked = await optIn(await written(3, { type: 'text', text: 'Anmelden' }));
        assert.equal(asked.output, 1);
        assert.equal(asked.msg.to, ANNA);
        assert.equal(asked.msg.optIn?.outcome, 'requested');
        assert.equal((asked.msg.optIn as { keyword?: string }).keyword, 'ANMELDEN');
        assert.match(JSON.stringify(asked.msg.payload), /Schickt mir den Newsletter per WhatsApp\./);
        assert.equal((asked.msg.payload as { type?: string }).type, 'interactive');
        const pending = await ledger.getConsent(ANNA, 'news');
        assert.deepEqual([pending?.status, pending?.method], ['pending', 'keyword']);
        assert.equal((await ledger.checkConsent(ANNA, 'news')).allowed, false, 'not signed up by the keyword');

        const yes = await optIn(await written(10, { type: 'text', text: 'Ja' }));
        assert.equal(yes.output, 2);
        assert.equal(yes.msg.optIn?.outcome, 'confirmed');
        const given = await ledger.getConsent(ANNA, 'news');
        assert.deepEqual([given?.status, given?.confirmationText], ['given', 'Ja']);
      });

      it('takes no typed yes sent before she can have read the request: before the keyword, or seconds after', async () => {
        await load({ confirmStartKeyword: true });
        assert.equal(
          (await optIn(await written(0, { type: 'text', text: 'Anmelden' }))).msg.optIn?.outcome,
          'requested',
        );
        // Delivered after the keyword though sent before it (an answer to something else), and one typed at once.
        for (const secondsAfter of [-4, 2]) {
          const yes = await optIn(await written(secondsAfter, { type: 'text', text: 'Ja' }));
          assert.equal(yes.output, 4, `${secondsAfter} s`);
          assert.deepEqual([yes.msg.optIn?.outcome, yes.msg.optIn?.reason], ['unclear', 'before-request-read']);
          assert.equal(
            yes.msg.optIn?.message,
            'Wir haben Ihnen eine Anmeldeanfrage geschickt. Bitte tippen Sie darin auf JA, um sich anzumelden: Rundbrief.',
          );
          assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
        }
        // A tap on the request's button is an answer to it, however soon.
        const tapped = await optIn(
          await written(3, {
            type: 'interactive',
            interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
          }),
        );
        assert.equal(tapped.msg.optIn?.outcome, 'confirmed');
      });

      it('answers the keyword again with how to confirm, and after her yes that she is signed up', async () => {
        await load({ confirmStartKeyword: true });
        assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden' }))).msg.optIn?.outcome, 'requested');
        const again = await optIn(inbound(ANNA, { type: 'text', text: 'ANMELDEN' }));
        assert.equal(again.output, 2);
        assert.deepEqual([again.msg.optIn?.outcome, again.msg.optIn?.reason], ['pending', 'request-pending']);
        assert.equal(again.msg.consent?.status, 'pending', 'the request she has');
        assert.equal(
          again.msg.payload,
          'Wir haben Ihnen eine Anmeldeanfrage geschickt. Bitte tippen Sie darin auf JA, um sich anzumelden: Rundbrief.',
        );
        const english = await optIn(inbound(BOB, { type: 'text', text: 'START' }));
        assert.equal(english.msg.optIn?.outcome, 'requested');
        const englishAgain = await optIn(inbound(BOB, { type: 'text', text: 'START' }));
        assert.equal(
          englishAgain.msg.payload,
          'We have sent you a sign-up request. Please tap YES in it to sign up: WhatsApp newsletter.',
        );
        await optIn(
          inbound(ANNA, {
            type: 'interactive',
            interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
          }),
        );
        const signedUp = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden' }));
        assert.equal(signedUp.msg.optIn?.outcome, 'already-signed-up');
        assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'given');
      });

      it('asks for nothing when the keyword was sent before her STOP or erasure and delivered after it', async () => {
        await load({ confirmStartKeyword: true });
        const stopSent = await stoppedAMinuteAgo();
        const outputs = watchOutputs();
        const logged = logLines();
        await receiveAndSettle(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: stopSent - 5 }));
        assert.deepEqual(outputs, [], 'no request, no answer');
        assert.ok(logged().some((line) => line.includes('superseded')));
        assert.notEqual((await ledger.getConsent(ANNA, 'news'))?.status, 'pending', 'no request on record');
        // Erased: a keyword sent before the erasure brings nothing of hers back.
        await ledger.eraseSubject(BOB, actor);
        await receiveAndSettle(inbound(BOB, { type: 'text', text: 'START', timestamp: stopSent }));
        assert.deepEqual(outputs, []);
        assert.equal((await ledger.exportSubject(BOB, actor)).consents.length, 0);
        const later = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: stopSent + 5 }));
        assert.equal(later.msg.optIn?.outcome, 'requested', 'a keyword sent after the STOP asks again');
      });

      it('passes the keyword on, saying nothing of a request, once she was asked too often today', async () => {
        const now = Date.now();
        await requestedEarlier([now - 3 * 3_600_000, now - 2 * 3_600_000, now - 3_600_000]);
        await load({ confirmStartKeyword: true });
        const asked = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden' }));
        assert.equal(asked.output, 4);
        assert.deepEqual(
          [asked.msg.optIn?.outcome, asked.msg.optIn?.reason, asked.msg.optIn?.limit],
          ['rejected', 'too-many-requests', 'per-day'],
        );
      });

      it('asks someone whose data was erased once she writes the keyword herself', async () => {
        await load({ confirmStartKeyword: true });
        await ledger.giveConsent({ subject: ANNA, purpose: 'news', wording: form.wording, method: 'keyword', actor });
        await ledger.eraseSubject(ANNA, actor);
        const asked = await optIn(await written(2, { type: 'text', text: 'Anmelden' }));
        assert.equal(asked.msg.optIn?.outcome, 'requested');
        assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      });
    });

    it('answers a start keyword from someone signed up already that she is, and records nothing new', async () => {
      await load({ allowSingleStep: true });
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden' }))).msg.optIn?.outcome, 'given');
      const given = await ledger.getConsent(ANNA, 'news');
      const again = await optIn(inbound(ANNA, { type: 'text', text: 'ANMELDEN' }));
      assert.equal(again.output, 2);
      assert.deepEqual(again.msg.optIn, {
        outcome: 'already-signed-up',
        purpose: 'news',
        language: 'de',
        keyword: 'ANMELDEN',
      });
      assert.equal(
        again.msg.payload,
        'Sie sind bereits angemeldet: Rundbrief. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
      );
      assert.deepEqual(await ledger.getConsent(ANNA, 'news'), given, 'her first keyword stays the proof');
      // Her first keyword delivered again by Meta: answered as the first time, nothing new recorded.
      const first = inbound(ANNA, { type: 'text', text: 'Anmelden', messageId: given?.confirmationMessageId });
      const redelivered = await optIn(first);
      assert.deepEqual([redelivered.output, redelivered.msg.optIn?.outcome], [2, 'given']);
      assert.match(String(redelivered.msg.payload), /^Sie sind jetzt angemeldet: /);
      assert.deepEqual(await ledger.getConsent(ANNA, 'news'), given);
      // Signed up through the form and its button, then START: the same answer.
      await optIn({ payload: { ...form, phone: BOB, wording: 'Send me the newsletter on WhatsApp.' } });
      await optIn(
        inbound(BOB, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'YES' },
        }),
      );
      const bob = await optIn(inbound(BOB, { type: 'text', text: 'START' }));
      assert.equal(bob.msg.optIn?.outcome, 'already-signed-up');
      assert.equal(
        bob.msg.payload,
        'You are already signed up: WhatsApp newsletter. Reply STOP at any time to unsubscribe.',
      );
    });

    it('takes a consent given in the English form, with a German number, as standing when she writes ANMELDEN', async () => {
      await load({ allowSingleStep: true });
      await optIn({ payload: { ...form, wording: 'Send me the newsletter on WhatsApp.' } });
      await optIn(
        inbound(ANNA, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'YES' },
        }),
      );
      const given = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual([given?.status, given?.method, given?.language], ['given', 'web-form', 'en']);
      // Her number says German, her consent English: the double opt-in stays her proof, not a keyword sign-up.
      const start = await optIn(inbound(ANNA, { type: 'text', text: 'ANMELDEN' }));
      assert.deepEqual(
        [start.output, start.msg.optIn?.outcome, start.msg.optIn?.language],
        [2, 'already-signed-up', 'en'],
      );
      assert.equal(
        start.msg.payload,
        'You are already signed up: WhatsApp newsletter. Reply STOP at any time to unsubscribe.',
      );
      assert.deepEqual(await ledger.getConsent(ANNA, 'news'), given);
    });

    it('answers a START Meta delivers again after the wording changed with the wording she agreed to, recording nothing', async () => {
      await load({ allowSingleStep: true });
      const first = inbound(ANNA, { type: 'text', text: 'Anmelden' });
      assert.equal((await optIn(first)).msg.optIn?.outcome, 'given');
      const given = await ledger.getConsent(ANNA, 'news');
      await helper.unload();
      const reworded = PURPOSES.map((p) =>
        p.id === 'news' ? { ...p, wording: { ...p.wording, de: 'Schickt mir den neuen Newsletter per WhatsApp.' } } : p,
      );
      await load({ allowSingleStep: true }, [], { purposes: reworded });
      const again = await optIn(first);
      assert.deepEqual([again.output, again.msg.optIn?.outcome], [2, 'given']);
      assert.match(String(again.msg.payload), /„Schickt mir den Newsletter per WhatsApp\.“/);
      const kept = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual(
        [kept?.wording, kept?.updatedAt],
        [given?.wording, given?.updatedAt],
        'her proof stays as it was',
      );
      // A new START agrees to the new wording: that is recorded.
      const now = await optIn(inbound(ANNA, { type: 'text', text: 'ANMELDEN' }));
      assert.deepEqual(
        [now.msg.optIn?.outcome, now.msg.consent?.wording],
        ['given', 'Schickt mir den neuen Newsletter per WhatsApp.'],
      );
    });

    it('records a START over a consent to a text that is not the purpose wording (staff, or any wording a form sent)', async () => {
      await load({ allowSingleStep: true });
      await ledger.giveConsent({
        subject: ANNA,
        purpose: 'news',
        wording: 'Newsletter, am Telefon besprochen.',
        method: 'agent',
        actor,
      });
      const start = await optIn(inbound(ANNA, { type: 'text', text: 'ANMELDEN' }));
      assert.deepEqual(
        [start.msg.optIn?.outcome, start.msg.consent?.wording],
        ['given', 'Schickt mir den Newsletter per WhatsApp.'],
      );
    });

    it('stores and answers nothing for a START sent before its writer moved to another number', async () => {
      await load({ allowSingleStep: true });
      const sentAt = Math.floor(Date.now() / 1000) - 60;
      await ledger.numberChanged({ phone: ANNA, actor: 't' });
      const outputs = watchOutputs();
      await receiveAndSettle(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: sentAt }));
      assert.deepEqual(outputs, []);
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'none');
      // A START written after the move (by whoever has the number now) signs up as always.
      const later = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: sentAt + 3600 }));
      assert.equal(later.msg.optIn?.outcome, 'given');
      // The previous holder's START delivered now, while the new holder's consent stands: still no answer, not hers.
      await receiveAndSettle(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: sentAt - 1 }));
      assert.deepEqual(outputs, ['out2'], "only the new holder's START was answered");
    });

    it('stores and answers nothing for a START sent before her STOP and delivered after it', async () => {
      await load({ allowSingleStep: true });
      const stopSent = await stoppedAMinuteAgo();
      const outputs = watchOutputs();
      const logged = logLines();
      await receiveAndSettle(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: stopSent - 5 }));
      assert.deepEqual(outputs, []);
      assert.ok(logged().some((line) => line.includes('superseded')));
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'none');
      const later = await optIn(inbound(ANNA, { type: 'text', text: 'Anmelden', timestamp: stopSent + 5 }));
      assert.equal(later.msg.optIn?.outcome, 'given', 'a START sent after the STOP signs up again');
    });

    it('records a typed no as refused: a form naming the number again gets one more request through, no more', async () => {
      // A form post eleven minutes ago: after her no, the next may go once the ten minutes after it are over.
      await requestedEarlier([Date.now() - 11 * 60_000]);
      await load();
      const no = await optIn(inbound(ANNA, { type: 'text', text: 'Nein danke' }));
      assert.equal(no.output, 2);
      assert.equal(no.msg.optIn?.outcome, 'refused');
      assert.equal(no.msg.to, ANNA);
      assert.equal(no.msg.payload, 'Verstanden, Sie sind nicht angemeldet: Rundbrief.');
      assert.equal((no.msg as { optOutFooter?: boolean }).optOutFooter, false, 'no STOP line under a no');
      const refused = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual([refused?.status, refused?.confirmationText], ['refused', 'Nein danke']);
      assert.equal((await ledger.checkConsent(ANNA, 'news')).allowed, false);
      // She may be signing up herself after all: one more goes, and after her second no none for 30 days.
      assert.equal((await optIn({ payload: form })).output, 1);
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'NEIN' }))).msg.optIn?.outcome, 'refused');
      const paused = await optIn({ payload: form });
      assert.deepEqual([paused.output, paused.msg.optIn?.reason], [3, 'recently-opted-out']);
      // A no with nothing pending is no opt-in reply: it passes on, and the refusal stands.
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'Nein' }))).output, 4);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'refused');
    });

    it("records a tap on a template's Nein button as refused, when the button belongs to the request", async () => {
      await load();
      await optIn({ payload: form });
      const requestedAt = (await ledger.getConsent(ANNA, 'news'))?.requestedAt as number;
      await ledger.requestSent(ANNA, 'news', 'wamid.request', { requestedAt, actor });
      // A button comes back quoting the message it was on: another template's Nein refuses nothing.
      const tap = (context: string) =>
        inbound(ANNA, { type: 'button', button: { payload: 'Nein', text: 'Nein' }, context: { id: context } });
      assert.equal((await optIn(tap('wamid.parcel-tracking'))).output, 4);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      const no = await optIn(tap('wamid.request'));
      assert.equal(no.msg.optIn?.outcome, 'refused');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'refused');
    });

    it('refuses nothing with a no written before the request or quoting another message', async () => {
      await load();
      await optIn({ payload: { ...form, phone: BOB, wording: 'Send me the newsletter on WhatsApp.' } });
      const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
      assert.equal((await optIn(inbound(BOB, { type: 'text', text: 'No', timestamp: tenMinutesAgo }))).output, 4);
      const requestedAt = (await ledger.getConsent(BOB, 'news'))?.requestedAt as number;
      await ledger.requestSent(BOB, 'news', 'wamid.request', { requestedAt, actor });
      const other = inbound(BOB, { type: 'text', text: 'No', context: { id: 'wamid.shall-we-call' } });
      assert.equal((await optIn(other)).output, 4);
      assert.equal((await ledger.getConsent(BOB, 'news'))?.status, 'pending');
      const quoting = await optIn(inbound(BOB, { type: 'text', text: 'No', context: { id: 'wamid.request' } }));
      assert.equal(quoting.msg.optIn?.outcome, 'refused');
      assert.equal(quoting.msg.payload, 'Understood, you are not signed up: WhatsApp newsletter.');
    });

    it('confirms nothing with a YES sent before the request, delivered late, and answers nothing', async () => {
      await load();
      await optIn({ payload: form });
      const outputs = watchOutputs();
      const logged = logLines();
      const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
      await receiveAndSettle(inbound(ANNA, { type: 'text', text: 'ja', timestamp: tenMinutesAgo }));
      assert.deepEqual(outputs, []);
      assert.ok(logged().some((line) => line.includes('stale-reply')));
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'pending');
      assert.equal((await optIn(inbound(ANNA, { type: 'text', text: 'ja' }))).msg.optIn?.outcome, 'confirmed');
    });

    it("uses the integrator's texts when set", async () => {
      await load({ confirmedTextDe: 'Danke! {label} ist aktiv.' });
      await optIn({ payload: form });
      assert.equal(
        (await optIn(inbound(ANNA, { type: 'text', text: 'ja' }))).msg.payload,
        'Danke! Rundbrief ist aktiv.',
      );
    });

    describe('a typed JA after she wrote something else since the request', () => {
      /** Her message `secondsAfter` now, as whatsapp-webhook's claim records it before the flow sees it. */
      const written = async (secondsAfter: number, whatsapp: Record<string, unknown>) => {
        const timestamp = Math.floor(Date.now() / 1000) + secondsAfter;
        await ledger.recordInbound(ANNA, timestamp * 1000);
        return inbound(ANNA, { ...whatsapp, timestamp });
      };

      it('signs her up for nothing, passes the JA on for the flow and says how to confirm, the request kept open', async () => {
        await load();
        await optIn({ payload: form });
        // "Löschen"; the business asks whether to erase her data, and she answers "Ja".
        await written(60, { type: 'text', text: 'Löschen' });
        const jaMsg = await written(90, { type: 'text', text: 'Ja' });
        const ja = await optIn(jaMsg);
        // On output 4, as a message of the flow's own: it may answer the flow's question.
        assert.equal(ja.output, 4);
        assert.deepEqual({ ...ja.msg, optIn: undefined }, { ...jaMsg, optIn: undefined }, 'unchanged but for optIn');
        assert.deepEqual(ja.msg.optIn, {
          outcome: 'unclear',
          reason: 'wrote-since-request',
          purpose: 'news',
          language: 'de',
          message:
            'Ihr Ja hat Sie nicht angemeldet: Rundbrief. Sie haben uns nach unserer Anfrage noch etwas geschrieben, ' +
            'daher kann es etwas anderes beantworten. Falls Sie sich anmelden möchten, tippen Sie in unserer Anfrage ' +
            'auf JA oder antworten Sie direkt auf die Anfrage.',
        });
        assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
        assert.equal((await ledger.checkConsent(ANNA, 'news')).allowed, false);

        const tapped = await optIn(
          await written(120, {
            type: 'interactive',
            interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
          }),
        );
        assert.equal(tapped.msg.optIn?.outcome, 'confirmed');
        assert.equal((await ledger.checkConsent(ANNA, 'news')).allowed, true);
      });

      it('refuses nothing with a typed Nein either: it passes on output 4, unchanged, for the flow to answer', async () => {
        await load();
        await optIn({ payload: form });
        await written(60, { type: 'text', text: 'Bitte keine Werbung mehr' });
        const nein = await written(90, { type: 'text', text: 'Nein' });
        const passed = await optIn(nein);
        assert.equal(passed.output, 4);
        assert.deepEqual(passed.msg, nein, 'unchanged');
        assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');
      });

      it("answers in the request's language and in the integrator's own words", async () => {
        await load({ unclearTextEn: 'Please tap YES in our request for {label}.', unclearTextDe: 'Bitte JA tippen.' });
        await optIn({ payload: { ...form, language: 'en', wording: 'Send me the newsletter on WhatsApp.' } });
        await written(60, { type: 'text', text: 'Hello?' });
        const yes = await optIn(await written(90, { type: 'text', text: 'Yes' }));
        assert.deepEqual([yes.output, yes.msg.optIn?.outcome, yes.msg.optIn?.language], [4, 'unclear', 'en']);
        assert.equal(yes.msg.optIn?.message, 'Please tap YES in our request for WhatsApp newsletter.');
      });
    });

    it("answers a typed no in the integrator's own words too, as it answers a yes", async () => {
      // A business that wrote its other answers informally must not send this one alone in the built-in tone.
      await load({ refusedTextDe: 'Alles klar, kein {label} für dich.', refusedTextEn: 'Fine, no {label}.' });
      await optIn({ payload: form });
      const no = await optIn(inbound(ANNA, { type: 'text', text: 'Nein' }));
      assert.equal(no.msg.optIn?.outcome, 'refused');
      assert.equal(no.msg.payload, 'Alles klar, kein Rundbrief für dich.');
    });
  });

  describe('through whatsapp-send to the standalone sandbox', () => {
    let sandbox: Sandbox;
    let server: RunningSandboxServer;

    before(async () => {
      sandbox = new Sandbox();
      server = await startSandboxServer({ sandbox });
      sandbox.registerNumber({
        phoneNumberId: PHONE_NUMBER_ID,
        displayPhoneNumber: '+49 30 7654321',
        accessToken: ACCESS_TOKEN,
        appSecret: 'unused',
        webhookUrls: () => [],
      });
    });

    after(async () => {
      await server.close();
      sandbox.close();
    });

    beforeEach(() => sandbox.reset());

    function sendingFlow(config: Record<string, unknown> = {}): Record<string, unknown>[] {
      return [
        {
          id: 'cfg',
          type: 'whatsapp-config',
          mode: 'cloud',
          apiBaseUrl: server.url,
          apiVersion: 'v25.0',
          phoneNumberId: PHONE_NUMBER_ID,
          ...config,
        },
        { id: 'send', z: 'tab', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
        { id: 'sent', z: 'tab', type: 'helper' },
        { id: 'failed', z: 'tab', type: 'helper' },
      ];
    }

    it('sends the confirmation template with the confirm payload; the tapped button confirms', async () => {
      await load(
        {
          mode: 'template',
          templateName: 'optin_confirmation',
          templateLanguage: 'auto',
          templateParameters: '{label}',
          wires: [['send'], ['out2'], ['out3'], ['out4']],
        },
        sendingFlow(),
      );
      const sent = next('sent');
      helper.getNode('optin').receive({ payload: form } as never);
      assert.match(String(((await sent).whatsapp as { messageId?: string }).messageId), /^wamid\./);
      const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
      assert.equal(accepted.to, ANNA);
      assert.deepEqual(accepted.body.template, {
        name: 'optin_confirmation',
        language: { code: 'de' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: 'Rundbrief' }] },
          {
            type: 'button',
            sub_type: 'quick_reply',
            index: '0',
            parameters: [{ type: 'payload', payload: 'gdpr-confirm:news' }],
          },
        ],
      });
      const confirmed = await optIn(
        inbound(ANNA, { type: 'button', button: { payload: 'gdpr-confirm:news', text: 'Ja' } }),
      );
      assert.equal(confirmed.output, 2);
      assert.equal((await ledger.checkConsent(ANNA, 'news')).status, 'given');
    });

    it('records the message that carried the request: a JA quoting it confirms, one quoting another message does not', async () => {
      await load({ wires: [['send'], ['out2'], ['out3'], ['out4']] }, sendingFlow());
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4915123456789' }, { text: 'Hallo' });
      const messageIdOf = (msg: Msg) => String((msg.whatsapp as { messageId?: string }).messageId);
      const question = next('sent');
      helper.getNode('send').receive({ to: ANNA, payload: 'Sollen wir Sie zurückrufen?' } as never);
      const questionId = messageIdOf(await question);
      const request = next('sent');
      helper.getNode('optin').receive({ payload: form } as never);
      const requestId = messageIdOf(await request);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.requestMessageId, requestId);

      // Her JA answers the question: a visible answer to another message is no consent to this request.
      const answersQuestion = inbound(ANNA, { type: 'text', text: 'JA', context: { id: questionId } });
      const other = await optIn(answersQuestion);
      assert.equal(other.output, 4);
      assert.deepEqual(other.msg, answersQuestion, 'unchanged');
      // So does a tap on the button of a message that is not this request's (an earlier request's).
      const earlierButton = inbound(ANNA, {
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
        context: { id: 'wamid.an-earlier-request' },
      });
      assert.equal((await optIn(earlierButton)).output, 4);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending');

      const answersRequest = await optIn(inbound(ANNA, { type: 'text', text: 'JA', context: { id: requestId } }));
      assert.equal(answersRequest.output, 2);
      assert.equal(answersRequest.msg.optIn?.outcome, 'confirmed');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'given');
    });

    /** A form request sent through whatsapp-send inside the 24-hour window; its record once sent. */
    async function requestThroughSend() {
      await load({ wires: [['send'], ['out2'], ['out3'], ['out4']] }, sendingFlow());
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4915123456789' }, { text: 'Hallo' });
      const sent = next('sent');
      const before = Date.now();
      helper.getNode('optin').receive({ payload: form } as never);
      await sent;
      const record = await ledger.getConsent(ANNA, 'news');
      assert.equal(record?.status, 'pending');
      assert.match(String(record?.requestId), /^[0-9a-f-]{36}$/);
      assert.ok((record?.requestSentAt ?? 0) >= before, 'when whatsapp-send had it accepted');
      assert.equal(record?.requestPhoneNumberId, PHONE_NUMBER_ID, 'the number of the whatsapp-config that sent it');
      return record;
    }

    it('keeps the proof of the answered request: the number it went from, the button that answered it', async () => {
      const asked = await requestThroughSend();
      const confirmed = await optIn(
        inbound(ANNA, {
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'gdpr-confirm:news', title: 'JA' },
        }),
      );
      assert.equal(confirmed.msg.optIn?.outcome, 'confirmed');
      const stored = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual(
        [stored?.status, stored?.requestId, stored?.confirmationVia, stored?.confirmationMatch],
        ['given', asked?.requestId, 'button', 'gdpr-confirm:news'],
      );
      const event = (await ledger.exportSubject(ANNA, actor)).auditEvents.find((e) => e.action === 'consent.confirmed');
      assert.deepEqual(
        [
          event?.detail?.requestId,
          event?.detail?.requestSentAt,
          event?.detail?.requestPhoneNumberId,
          event?.detail?.answerPhoneNumberId,
          event?.detail?.via,
          event?.detail?.match,
        ],
        [asked?.requestId, asked?.requestSentAt, PHONE_NUMBER_ID, PHONE_NUMBER_ID, 'button', 'gdpr-confirm:news'],
      );
    });

    it('a JA or a Nein that came to another business number answers nothing: it passes on output 4', async () => {
      await requestThroughSend();
      for (const text of ['JA', 'Nein']) {
        const elsewhere = inbound(ANNA, { type: 'text', text, phoneNumberId: '100200300999' });
        const passed = await optIn(elsewhere);
        assert.equal(passed.output, 4, text);
        assert.deepEqual(passed.msg, elsewhere, 'unchanged');
        assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending', text);
      }
      // Her no where she was asked refuses it, with the keyword it matched.
      const no = await optIn(inbound(ANNA, { type: 'text', text: 'Nein danke' }));
      assert.equal(no.msg.optIn?.outcome, 'refused');
      const refused = await ledger.getConsent(ANNA, 'news');
      assert.deepEqual(
        [refused?.status, refused?.confirmationVia, refused?.confirmationMatch],
        ['refused', 'keyword', 'NEIN'],
      );
    });

    /**
     * A form request that waits in whatsapp-send's queue (one message a second, behind an answer to her) while
     * `meanwhile` runs: what left, and what failed.
     */
    async function requestWaitsWhile(meanwhile: () => Promise<unknown>) {
      await load({ wires: [['send'], ['out2'], ['out3'], ['out4']] }, sendingFlow({ throughput: 1 }));
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4915123456789' }, { text: 'Hallo' });
      const sent = collect('sent');
      const failed = collect('failed');
      helper.getNode('send').receive({ to: ANNA, payload: 'Danke für Ihre Nachricht!' } as never);
      await until(() => sent.length === 1, 'the answer');
      helper.getNode('optin').receive({ payload: form } as never);
      for (let i = 0; i < 200 && (await ledger.getConsent(ANNA, 'news'))?.status !== 'pending'; i++) await sleep(10);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'pending', 'the request recorded');
      await meanwhile();
      await until(() => sent.length + failed.length === 2, 'the request sent or refused');
      return { sent, failed, accepted: sandbox.accepted(PHONE_NUMBER_ID) };
    }

    it('does not send a request that a STOP ended while it waited in the queue', async () => {
      const { sent, failed, accepted } = await requestWaitsWhile(() =>
        ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor }),
      );
      assert.equal(sent.length, 1);
      assert.deepEqual(
        failed.map((m) => (m.error as { code?: string }).code),
        ['send-request-ended'],
      );
      assert.equal(accepted.length, 1, 'only the answer reached Meta');
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'withdrawn');
    });

    it('does not send a request that an erasure took while it waited in the queue, nor records anything again', async () => {
      const { sent, failed, accepted } = await requestWaitsWhile(() => ledger.eraseSubject(ANNA, actor));
      assert.equal(sent.length, 1);
      assert.deepEqual(
        failed.map((m) => (m.error as { code?: string }).code),
        ['send-request-ended'],
      );
      assert.equal(accepted.length, 1, 'only the answer reached Meta');
      assert.equal(await ledger.getConsent(ANNA, 'news'), undefined);
      assert.equal(await ledger.isErasedAndGone(ANNA), true, 'nothing recorded about her since');
    });

    it('a request refused by a full queue ended with it: not retryable, and she may ask again at once', async () => {
      await load({ wires: [['send'], ['out2'], ['out3'], ['out4']] }, sendingFlow({ throughput: 1, maxQueue: 1 }));
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4915123456789' }, { text: 'Hallo' });
      const sent = collect('sent');
      const failed = collect('failed');
      helper.getNode('send').receive({ to: ANNA, payload: 'Danke für Ihre Nachricht!' } as never);
      await until(() => sent.length === 1, 'the answer');
      helper.getNode('send').receive({ to: ANNA, payload: 'Wir melden uns.' } as never);
      helper.getNode('optin').receive({ payload: form } as never);
      // A message that is no request, refused the same way, keeps the queue's retryable.
      helper.getNode('send').receive({ to: ANNA, payload: 'Noch etwas.' } as never);
      await until(() => failed.length === 2, 'the request and the last message refused');
      const outcome = (m: Msg) => {
        const { code, retryable } = m.error as { code?: string; retryable?: boolean };
        return [m.optIn === undefined ? 'text' : 'request', code, retryable];
      };
      assert.deepEqual(failed.map(outcome).sort(), [
        ['request', 'queue-full', false],
        ['text', 'queue-full', true],
      ]);
      assert.equal((await ledger.getConsent(ANNA, 'news'))?.status, 'expired', 'ended, so she may ask again');
      await until(() => sent.length === 2, 'the second answer');
    });

    it('sends the interactive confirmation inside the 24-hour window', async () => {
      await load({ wires: [['send'], ['out2'], ['out3'], ['out4']] }, sendingFlow());
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4915123456789' }, { text: 'Hallo' });
      const sent = next('sent');
      const failed = collect('failed');
      helper.getNode('optin').receive({ payload: form } as never);
      await sent;
      assert.equal(failed.length, 0);
      const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
      assert.equal(accepted.body.type, 'interactive');
      await until(() => sandbox.conversation(PHONE_NUMBER_ID, '4915123456789').length === 2, 'the message in the chat');
    });
  });
});
