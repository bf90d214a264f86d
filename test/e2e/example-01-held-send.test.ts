import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { signPayload } from '../../lib/webhook/signature';
import { RealNodeRed } from '../helpers/real-node-red';
import { json, MockGraph, okBody, type SeenRequest } from '../lib/cloud-api/mock-graph';
import type { FlowNode } from './support/examples';
import { withStore } from './support/store';

/**
 * Example 01 in a real Node-RED process, its number on a Cloud API stand-in that holds every message unanswered:
 * the form's answer page must come while the confirmation request still waits at Meta. An answer that waited for
 * the send would hang the browser as long as Meta is slow (up to the client's timeout), and only for new numbers:
 * a known number gets its page at once, so the wait would tell who signed up already.
 */
const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', '01-double-opt-in-web-form.json');
const PHONE_NUMBER_ID = '104455667788990';
const WABA_ID = '2000000000001';
const MESSAGE_ID = 'wamid.HELD-CONFIRMATION-REQUEST';
const APP_SECRET = 'e2e-held-secret';

interface HeldMessage {
  request: SeenRequest;
  answer: http.ServerResponse;
}

describe('example 01: the form answers while the confirmation request is held at the Cloud API', function () {
  this.timeout(90000);
  const flow = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
  const graph = new MockGraph();
  const held: HeldMessage[] = [];
  /** What the stand-in's template list says consent_request is; messages are held while `holdMessages` is set. */
  let category = 'UTILITY';
  let holdMessages = true;
  let red: RealNodeRed;

  before(async function () {
    this.timeout(120000);
    const apiBaseUrl = await graph.start();
    graph.always((req, res) => {
      if (req.method === 'POST' && req.url.includes('/messages')) {
        held.push({ request: req, answer: res });
        const to = String((req.body as { to?: unknown }).to);
        if (!holdMessages) json(res, 200, okBody(`wamid.${held.length}`, to.slice(1), to));
        return;
      }
      if (req.url.includes('/message_templates')) {
        json(res, 200, {
          data: ['en', 'de'].map((language) => ({
            name: 'consent_request',
            language,
            category,
            status: 'APPROVED',
          })),
        });
        return;
      }
      if (req.url.includes('/settings')) {
        json(res, 200, {
          storage_configuration: { status: 'IN_COUNTRY_STORAGE_ENABLED', data_localization_region: 'DE' },
        });
        return;
      }
      json(res, 200, { id: PHONE_NUMBER_ID, display_phone_number: '+49 30 5550000', verified_name: 'Example 01' });
    });
    red = await RealNodeRed.start({ startTimeoutMs: 60000 });
    // The example as imported, its number moved from the sandbox to the stand-in (plain http: loopback only).
    const deployed = flow.map((n) =>
      n.type === 'whatsapp-config'
        ? {
            ...n,
            mode: 'cloud',
            apiBaseUrl,
            phoneNumberId: PHONE_NUMBER_ID,
            wabaId: WABA_ID,
            credentials: { accessToken: 'e2e-held-token', appSecret: APP_SECRET, verifyToken: 'e2e-verify' },
          }
        : n,
    );
    await red.deploy(deployed);
  });

  after(async () => {
    for (const message of held.splice(0)) message.answer.destroy();
    await red?.stop();
    await graph.stop();
  });

  function named(name: string): FlowNode {
    const found = flow.find((n) => n.name === name);
    assert.ok(found, `example 01 has a node named ${name}`);
    return found;
  }

  async function postForm(phone: string): Promise<{ status: number; page: string }> {
    const answer = await fetch(`${red.url}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone, consent: 'on', language: 'en' }),
      signal: AbortSignal.timeout(10000),
    });
    return { status: answer.status, page: await answer.text() };
  }

  async function until(predicate: () => boolean, what: string, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${red.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("wires opt-in-flow's request output both to whatsapp-send and to the answer page's http response", () => {
    const optIn = flow.find((n) => n.type === 'opt-in-flow') as FlowNode;
    const [requested] = optIn.wires as string[][];
    const send = named('send confirmation request');
    const answerPage = named('answer page');
    assert.ok(requested.includes(send.id), 'output 1 goes to whatsapp-send');
    assert.ok(requested.includes(answerPage.id), 'output 1 goes to the answer page');
    const [next] = answerPage.wires as string[][];
    assert.equal(flow.find((n) => n.id === next[0])?.type, 'http response');
  });

  it('answers the form for a new number while the send waits at Meta, and sends the request once released', async () => {
    const phone = '+4915140001234';
    const answering = fetch(`${red.url}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone, consent: 'on', language: 'de' }),
      signal: AbortSignal.timeout(10000),
    });
    // The confirmation request has reached the stand-in, which does not answer it.
    await until(() => held.length === 1, 'the confirmation request at the Cloud API');
    const answer = await answering;
    const page = await answer.text();
    assert.equal(answer.status, 200, page);
    assert.match(page, /data-outcome="requested"/);
    assert.match(page, /<html lang="de">/);
    const [{ request, answer: pending }] = held;
    assert.equal(pending.writableEnded, false, 'the send is still held when the page has come');
    assert.equal(pending.headersSent, false);

    // The request that arrived is the confirmation template for this number.
    const body = request.body as {
      to?: string;
      type?: string;
      template?: { name?: string; language?: { code?: string } };
    };
    assert.equal(body.to, phone);
    assert.equal(body.type, 'template');
    assert.equal(body.template?.name, 'consent_request');
    assert.equal(body.template?.language?.code, 'de');

    // Released: Meta accepts it, and whatsapp-send records which message carried the request.
    json(pending, 200, okBody(MESSAGE_ID, phone.slice(1), phone));
    const store = flow.find((n) => n.type === 'consent-store') as FlowNode;
    let recorded: string | undefined;
    for (let attempt = 0; attempt < 100 && recorded !== MESSAGE_ID; attempt++) {
      const record = await withStore(red.userDir, store, (ledger) => ledger.getConsent(phone, 'newsletter'));
      assert.equal(record?.status, 'pending');
      recorded = record?.requestMessageId;
      if (recorded !== MESSAGE_ID) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(recorded, MESSAGE_ID, 'whatsapp-send finished the request with the message Meta accepted');
    assert.equal(held.length, 1, 'sent once');
    assert.doesNotMatch(red.log(), /\[error\]/, red.log());
  });

  it('sends the request on a template Meta made MARKETING, warning once in the log', async () => {
    holdMessages = false;
    category = 'MARKETING';
    // Meta's template_category_update through the example's own webhook: the category is looked up again.
    const raw = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: WABA_ID,
          time: Math.floor(Date.now() / 1000),
          changes: [
            {
              field: 'template_category_update',
              value: {
                message_template_id: 1689556908129832,
                message_template_name: 'consent_request',
                message_template_language: 'de',
                previous_category: 'UTILITY',
                new_category: 'MARKETING',
              },
            },
          ],
        },
      ],
    });
    const webhook = String(flow.find((n) => n.type === 'whatsapp-webhook')?.path);
    const delivered = await fetch(`${red.url}${webhook}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(raw, APP_SECRET) },
      body: raw,
    });
    assert.equal(delivered.status, 200, await delivered.text());
    const warning = /opt-in confirmation template consent_request is categorised MARKETING/g;
    const sentBefore = held.length;
    for (const phone of ['+4915140002345', '+4915140003456']) {
      const { status, page } = await postForm(phone);
      assert.equal(status, 200, page);
      assert.match(page, /data-outcome="requested"/);
    }
    await until(() => held.length === sentBefore + 2, 'both requests at the Cloud API');
    await until(() => (red.log().match(warning) ?? []).length > 0, 'the warning');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((red.log().match(warning) ?? []).length, 1, 'warned once');
    assert.doesNotMatch(red.log(), /\[error\]/, red.log());
  });
});
