import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { installTarball, type PackedInstall, type PackedTarball, packTarball } from '../helpers/packed-node-red';
import { RealNodeRed, redJsPath } from '../helpers/real-node-red';
import { brief, SandboxCustomer } from './support/customer';
import { type LoadedExample, loadExamples } from './support/examples';
import { acknowledgedEventId, consentStatus, withStore } from './support/store';

/**
 * Issue 5: the packed package installed into a fresh Node-RED user directory, a real Node-RED process, every
 * example deployed as it is imported (no credentials, no edits) through the Admin API, and each one driven
 * the way a customer and the staff would: chats through the sandbox, forms and HTTP calls.
 */
describe('example flows from the packed tarball in a real Node-RED', function () {
  this.timeout(60000);
  let tarball: PackedTarball;
  let install: PackedInstall;
  let red: RealNodeRed;
  let examples: Map<string, LoadedExample>;
  let phoneSerial = 0;
  /** The examples' staff endpoints answer only with this Bearer token (WA_GDPR_STAFF_TOKEN of the process). */
  const STAFF_TOKEN = 'e2e-staff-token-0123456789abcdef';
  const STAFF = { authorization: `Bearer ${STAFF_TOKEN}` };

  /** A new customer number per use, so the examples never share a subject. */
  function newPhone(): string {
    phoneSerial += 1;
    return `+49151${String(4000000 + phoneSerial * 7919).padStart(8, '0')}`;
  }

  function example(number: string): LoadedExample {
    const found = examples.get(number);
    assert.ok(found, `example ${number} is in the package`);
    return found;
  }

  async function customerOf(number: string, phone = newPhone(), name = 'Erika'): Promise<SandboxCustomer> {
    return SandboxCustomer.of(red, String(example(number).only('whatsapp-config').name), phone, name);
  }

  function status(number: string, phone: string, purpose: string) {
    return consentStatus(red.userDir, example(number).only('consent-store'), phone, purpose);
  }

  before(async function () {
    this.timeout(300000);
    const started = Date.now();
    tarball = packTarball();
    install = installTarball(tarball.file);
    red = await RealNodeRed.start({
      userDir: install.userDir,
      startTimeoutMs: 60000,
      env: { WA_GDPR_STAFF_TOKEN: STAFF_TOKEN },
    });
    examples = loadExamples(install.moduleDir);
    const all = [...examples.values()].flatMap((e) => e.nodes);
    await red.deploy(all);
    console.log(
      `      packed, installed (${install.offline ? 'offline' : 'from the registry'}, ${install.installMs} ms) ` +
        `and started in ${Date.now() - started} ms`,
    );
  });

  after(async () => {
    await red?.stop();
    tarball?.remove();
  });

  it('ships the ten examples, the built nodes and no tests in the tarball', () => {
    const shipped = tarball.files.filter((f) => f.startsWith('examples/')).sort();
    assert.equal(shipped.length, 10, shipped.join());
    assert.ok(tarball.files.includes('dist/nodes/consent-store.js'));
    assert.ok(tarball.files.includes('dist/nodes/consent-store.html'));
    assert.ok(!tarball.files.some((f) => f.startsWith('dist/test/') || f.startsWith('test/')));
    assert.deepEqual([...examples.keys()], ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10']);
  });

  it('runs every example without a node error, with generated store keys kept private', async () => {
    const log = red.log();
    const version = (createRequire(redJsPath())('./package.json') as { version: string }).version;
    assert.ok(log.includes(`Node-RED version: v${version}`), 'the Node-RED under test (NODE_RED_PATH)');
    assert.doesNotMatch(log, /\[error\]/, log);
    const keyFile = path.join(red.userDir, 'whatsapp-consent-keys.json');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const keys = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
    assert.doesNotMatch(log, new RegExp(`${keys.encryptionKey}|${keys.pseudonymKey}`.replace(/[+/]/g, '\\$&')));
  });

  it('01 double opt-in from a web form: form, template, confirmation; an unticked box stores nothing', async () => {
    const form = await fetch(`${red.url}/optin-ex01?lang=de`);
    assert.equal(form.status, 200);
    // No other site may show the form in a frame and have visitors tick the box under something else (clickjacking).
    assert.equal(form.headers.get('x-frame-options'), 'DENY');
    assert.equal(form.headers.get('content-security-policy'), "frame-ancestors 'none'");
    const page = await form.text();
    // A query value that is no text (Express reads ?lang[toString]=x as an object) gets the page, never no answer.
    const odd = await fetch(`${red.url}/optin-ex01?lang[toString]=x`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(odd.status, 200);
    assert.match(await odd.text(), /Newsletter on WhatsApp/);
    // At "/optin-ex01/" (Express routes it here too) the form still posts to "/optin-ex01".
    const slashed = await fetch(`${red.url}/optin-ex01/`);
    const action = (await slashed.text()).match(/<form method="post" action="([^"]+)"/)?.[1] ?? '';
    assert.equal(new URL(action, slashed.url).pathname, new URL(`${red.url}/optin-ex01`).pathname, action);
    const checkbox = page.match(/<input type="checkbox"[^>]*>/)?.[0] ?? '';
    assert.ok(checkbox && !/checked/.test(checkbox), 'the consent box is not pre-ticked');
    const wordingDe = String((example('01').nodes[1].env as { name: string; value: string }[])[1].value);
    assert.ok(page.includes(wordingDe), 'the page shows the exact wording');

    const erika = await customerOf('01');
    const submitted = await fetch(`${red.url}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: erika.phone, consent: 'on', language: 'de' }),
    });
    assert.equal(submitted.status, 200, await submitted.clone().text());
    const sentPage = await submitted.text();
    assert.match(sentPage, /data-outcome="requested"/);
    assert.equal(submitted.headers.get('x-frame-options'), 'DENY', 'the answer page too');
    const [request] = await erika.receivedExactly(1);
    assert.equal(request.type, 'template');
    assert.equal(request.template?.name, 'consent_request');
    const button = request.buttons?.[0];
    assert.ok(button, 'the template carries the confirm button');
    assert.equal((await status('01', erika.phone, 'newsletter')).status, 'pending');

    await erika.tapsTemplateButton(button.id, 'JA');
    const [, thanks] = await erika.receivedExactly(2);
    assert.match(thanks.text, /Vielen Dank, Ihre Einwilligung ist bestätigt/);
    const record = await withStore(red.userDir, example('01').only('consent-store'), (ledger) =>
      ledger.getConsent(erika.phone, 'newsletter'),
    );
    assert.equal(record?.status, 'given');
    assert.equal(record?.wording, wordingDe);
    assert.equal(record?.method, 'web-form');

    // Whoever types her number in again learns nothing: the page is the one a sent request gets, and she gets no
    // second message.
    const again = await fetch(`${red.url}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: erika.phone, consent: 'on', language: 'de' }),
    });
    assert.equal(again.status, 200);
    assert.equal(await again.text(), sentPage);
    await erika.receivedExactly(2);

    // Refusal: the box left unticked. A 400 page with the reason, no message, nothing stored.
    const max = await customerOf('01');
    const unticked = await fetch(`${red.url}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: max.phone, language: 'en' }),
    });
    assert.equal(unticked.status, 400);
    const refusal = await unticked.text();
    // The reason for the flow in an attribute; for the visitor words and a way back, no internal code.
    assert.match(refusal, /data-reason="consent-not-ticked"/);
    assert.match(refusal, />Your sign-up was not saved\. Please tick the consent box to sign up\.</);
    assert.match(refusal, /<a href="optin-ex01\?lang=en">Back to the form<\/a>/);
    await max.receivedExactly(0);
    assert.equal((await status('01', max.phone, 'newsletter')).status, 'none');
  });

  it("01, 10 web forms: a post from another site's page gets a 403 and reaches opt-in-flow never; its own page's goes", async () => {
    for (const [number, form] of [
      ['01', '/optin-ex01'],
      ['10', '/optin'],
    ]) {
      const post = (phone: string, headers: Record<string, string>) =>
        fetch(`${red.url}${form}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: new URLSearchParams({ phone, consent: 'on', language: 'de' }),
        });
      const stranger = await customerOf(number);
      const forged = await post(stranger.phone, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
      assert.equal(forged.status, 403, number);
      assert.match(await forged.text(), /Dieses Formular kann nur auf seiner eigenen Seite abgeschickt werden/);
      await stranger.receivedExactly(0);
      assert.equal((await status(number, stranger.phone, 'newsletter')).status, 'none', number);

      const erika = await customerOf(number);
      const own = await post(erika.phone, { origin: new URL(red.url).origin, 'sec-fetch-site': 'same-origin' });
      assert.equal(own.status, 200, number);
      assert.match(await own.text(), /data-outcome="requested"/);
      await erika.receivedExactly(1);
    }
  });

  /** A staff call: with the staff token unless `headers` say otherwise. */
  async function postJson(
    urlPath: string,
    body: unknown,
    headers: Record<string, string> = STAFF,
  ): Promise<{ status: number; body: unknown; text: string }> {
    const answer = await fetch(`${red.url}${urlPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await answer.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: answer.status, body: parsed, text };
  }

  async function getJson(urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const answer = await fetch(`${red.url}${urlPath}`, { headers: STAFF });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  }

  /**
   * A customer who signed up by keyword: in one step in examples 04, 05 and 09; in example 07 by a double opt-in
   * after the privacy notice, three messages in her chat.
   */
  async function subscribed(number: string, name = 'Erika'): Promise<SandboxCustomer> {
    const customer = await customerOf(number, newPhone(), name);
    if (number === '07') {
      await signsUpInChat(customer, 'ANMELDEN', 'JA', '07');
      return customer;
    }
    await customer.says('ANMELDEN');
    await customer.receivedExactly(1);
    assert.equal((await status(number, customer.phone, 'newsletter')).status, 'given');
    return customer;
  }

  /**
   * A sign-up in the chat of example 10 (or 07), a double opt-in: her keyword gets the request with the wording (after
   * the privacy notice on first contact), and her tap on its YES signs her up (a yes typed seconds after the keyword is
   * taken for one she wrote before reading the request). Answers how many messages she has received by then.
   */
  async function signsUpInChat(
    customer: SandboxCustomer,
    keyword: string,
    yes: string,
    example: '10' | '07' = '10',
  ): Promise<number> {
    const before = (await customer.received()).length;
    await customer.says(keyword);
    const firstContact = before === 0;
    const asked = await customer.receivedExactly(before + (firstContact ? 2 : 1));
    const request = asked[asked.length - 1];
    if (firstContact) assert.match(asked[0].text, /(Datenschutzerklärung|Privacy policy): /, brief(asked[0]));
    assert.match(request.text, /(Bitte bestätigen Sie|Please confirm)/, brief(request));
    assert.equal(
      (await status(example, customer.phone, 'newsletter')).status,
      'pending',
      'not signed up by the keyword',
    );
    await customer.tapsReplyButton('gdpr-confirm:newsletter', yes);
    const confirmed = await customer.receivedExactly(asked.length + 1);
    assert.match(confirmed[confirmed.length - 1].text, /(Ihre Einwilligung ist bestätigt|your consent is confirmed)/);
    assert.equal((await status(example, customer.phone, 'newsletter')).status, 'given');
    return confirmed.length;
  }

  it('02 opt-in by keyword: START signs up in one step; any other text stores nothing', async () => {
    const erika = await customerOf('02');
    await erika.says('Start!');
    const [subscribedText] = await erika.receivedExactly(1);
    assert.match(subscribedText.text, /^Sie sind jetzt angemeldet: „Ja, ich möchte den Newsletter/);
    const record = await withStore(red.userDir, example('02').only('consent-store'), (ledger) =>
      ledger.getConsent(erika.phone, 'newsletter'),
    );
    assert.equal(record?.status, 'given');
    assert.equal(record?.method, 'keyword');
    assert.match(record?.wording ?? '', /^Ja, ich möchte den Newsletter/, 'the purpose wording in her language');

    const max = await customerOf('02', '+447911123456', 'Max');
    await max.says('Can I have the newsletter?');
    const [hint] = await max.receivedExactly(1);
    assert.match(hint.text, /Send START to receive our newsletter with offers and news on WhatsApp/);
    await max.says('YES');
    await max.receivedExactly(2);
    assert.equal((await status('02', max.phone, 'newsletter')).status, 'none', 'a YES without a request is no consent');
  });

  it('03 privacy notice: shown once before the first answer, recorded, and the full policy page', async () => {
    const erika = await customerOf('03');
    await erika.says('Hallo, wann öffnet ihr?');
    const [notice, answer] = await erika.receivedExactly(2);
    // The policy URL is a path: the link names this Node-RED's own address and port (not 1880), and opens the page.
    const link = notice.text.match(/Datenschutzerklärung: (\S+?)\.?\s/)?.[1];
    assert.equal(link, `${red.url}/privacy-ex03`, notice.text);
    assert.equal((await fetch(String(link))).status, 200);
    assert.ok(red.log().includes(`The notice links ${link}, this Node-RED's own address`), 'the log names the address');
    assert.match(answer.text, /Danke für Ihre Nachricht/);
    await erika.says('Und am Sonntag?');
    const third = (await erika.receivedExactly(3))[2];
    assert.match(third.text, /Danke für Ihre Nachricht/, 'no second notice');
    const exported = await withStore(red.userDir, example('03').only('consent-store'), (ledger) =>
      ledger.exportSubject(erika.phone, 'e2e-test'),
    );
    assert.equal(exported.notices.length, 1, 'the notice shown is recorded once');

    const policy = await fetch(`${red.url}/privacy-ex03?lang=de`);
    assert.equal(policy.status, 200);
    const html = await policy.text();
    assert.match(html, /Beispiel Shop GmbH/);
    assert.match(html, /Dr\. Erika Beispiel/);
    assert.match(html, /Bestell/, 'the purposes of the store');
    assert.equal((await fetch(`${red.url}/privacy-ex03`, { method: 'POST' })).status, 404);

    // A STOP as the first message is answered too, so it comes after the notice like every other answer.
    const max = await customerOf('03', newPhone(), 'Max');
    await max.says('STOP');
    const [first, confirmation] = await max.receivedExactly(2);
    assert.match(first.text, /Datenschutzerklärung: /, brief(first));
    assert.match(confirmation.text, /^Sie wurden abgemeldet\./, brief(confirmation));
  });

  it('04 STOP withdraws and confirms; Meta opt-out withdraws marketing silently; "stop please" is no STOP', async () => {
    const erika = await subscribed('04');
    await erika.says('STOPP');
    const [, confirmation] = await erika.receivedExactly(2);
    // The example's opt-in-flow signs up by keyword: the confirmation names the German one.
    assert.equal(confirmation.text, 'Sie wurden abgemeldet. Um sich wieder anzumelden, antworten Sie mit ANMELDEN.');
    const record = await withStore(red.userDir, example('04').only('consent-store'), (ledger) =>
      ledger.getConsent(erika.phone, 'newsletter'),
    );
    assert.equal(record?.status, 'withdrawn');
    assert.equal(record?.withdrawalChannel, 'whatsapp-keyword');

    const max = await subscribed('04', 'Max');
    await max.turnsMarketing('stop');
    await max.receivedExactly(1);
    const withdrawn = await withStore(red.userDir, example('04').only('consent-store'), (ledger) =>
      ledger.getConsent(max.phone, 'newsletter'),
    );
    assert.equal(withdrawn?.status, 'withdrawn');
    assert.equal(withdrawn?.withdrawalChannel, 'meta-marketing-optout');
    await max.turnsMarketing('resume');
    assert.equal((await status('04', max.phone, 'newsletter')).status, 'withdrawn', 'resume restores nothing');

    const jana = await subscribed('04', 'Jana');
    await jana.says('bitte stoppt die Werbung morgen');
    await jana.receivedExactly(1);
    assert.equal((await status('04', jana.phone, 'newsletter')).status, 'given');

    // Staff record what she meant (or a withdrawal that came by e-mail): written like a STOP, nothing sent to her.
    const withdraw = (body: object) =>
      fetch(`${red.url}/staff-ex04/withdraw`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...STAFF },
        body: JSON.stringify(body),
      });
    const refused = await withdraw({ phone: jana.phone, purposes: ['no-such-purpose'] });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: string }).error, 'unknown-purpose');
    // Without purposes every purpose ends: a misspelt field or an empty list is refused, not read as that.
    for (const body of [
      { phone: jana.phone, purpose: 'newsletter' },
      { phone: jana.phone, purposes: [] },
    ]) {
      const misread = await withdraw(body);
      assert.equal(misread.status, 400, JSON.stringify(body));
      assert.equal(((await misread.json()) as { error: string }).error, 'invalid-withdrawal');
    }
    assert.equal((await status('04', jana.phone, 'newsletter')).status, 'given', 'a refused request changes nothing');
    const answer = await withdraw({ phone: jana.phone, purposes: ['newsletter'], requestedBy: 'ticket 4711' });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { withdrawn: ['newsletter'], suppressed: false });
    const recorded = await withStore(red.userDir, example('04').only('consent-store'), (ledger) =>
      ledger.getConsent(jana.phone, 'newsletter'),
    );
    assert.equal(recorded?.status, 'withdrawn');
    assert.equal(recorded?.withdrawalChannel, 'admin');
    // Who on staff recorded it is in the audit trail (the example passed it on as msg.requestedBy).
    const audit = await withStore(red.userDir, example('04').only('consent-store'), async (ledger) => {
      const lines: string[] = [];
      for await (const line of ledger.exportAudit()) lines.push(line);
      return lines.join('\n');
    });
    assert.match(audit, /"requestedBy":"ticket 4711"/);
    await jana.receivedExactly(1);
  });

  it("a move to another number ends the old number's consent, and no bot answers the number she left", async () => {
    const anna = await subscribed('04', 'Anna');
    const newNumber = newPhone();
    await anna.changesNumber(newNumber);
    const ended = await withStore(red.userDir, example('04').only('consent-store'), (ledger) =>
      ledger.getConsent(anna.phone, 'newsletter'),
    );
    assert.equal(ended?.status, 'withdrawn');
    assert.equal(ended?.withdrawalChannel, 'whatsapp-number-change');
    assert.equal((await status('04', newNumber, 'newsletter')).status, 'none', 'the new number agreed to nothing');
    await anna.receivedExactly(1);
    // Example 03 answers every message: Meta's system message is not one from her.
    const ben = await customerOf('03', newPhone(), 'Ben');
    await ben.says('Hallo');
    await ben.receivedExactly(2);
    await ben.changesNumber(newPhone());
    await ben.receivedExactly(2);
  });

  it('05 broadcast: only consented recipients get the template; the summary names blocked and failed', async () => {
    const erika = await subscribed('05');
    const max = await subscribed('05', 'Max');
    const withdrawn = await subscribed('05', 'Jana');
    await withdrawn.says('STOP');
    await withdrawn.receivedExactly(2);
    const stranger = await customerOf('05');

    // Erika twice, the second time as a person types her number: one message, the repeat named.
    const erikaAgain = `00${erika.phone.slice(1, 3)} ${erika.phone.slice(3, 6)} ${erika.phone.slice(6)}`;
    const recipients = [erika.phone, stranger.phone, max.phone, withdrawn.phone, 'not a number', erikaAgain];
    const campaign = await postJson('/broadcast-ex05', { template: 'spring_sale', language: 'de', recipients });
    assert.equal(campaign.status, 200, campaign.text);
    assert.deepEqual(campaign.body, {
      template: 'spring_sale',
      total: 6,
      sent: 2,
      blocked: [
        { to: stranger.phone, reason: 'none' },
        { to: withdrawn.phone, reason: 'withdrawn' },
      ],
      failed: [{ to: 'not a number', code: 'invalid-recipient' }],
      duplicates: [erikaAgain],
    });
    for (const customer of [erika, max]) {
      const [, sale] = await customer.receivedExactly(2);
      assert.equal(sale.template?.name, 'spring_sale');
    }
    await stranger.receivedExactly(0);
    await withdrawn.receivedExactly(2);

    // Refusal by Meta's rules: a template name the Cloud API does not accept fails with its code, and is counted.
    const broken = await postJson('/broadcast-ex05', { template: 'Spring Sale!', recipients: [erika.phone] });
    assert.equal(broken.status, 200, broken.text);
    const summary = broken.body as { sent: number; failed: { code: string }[] };
    assert.equal(summary.sent, 0);
    assert.equal(summary.failed.length, 1);
    assert.ok(summary.failed[0].code, JSON.stringify(summary));
    await erika.receivedExactly(2);
    assert.equal((await postJson('/broadcast-ex05', { recipients: [] })).status, 400);
    // A recipient that is no text is refused, not left without an answer.
    const odd = await postJson('/broadcast-ex05', { template: 'spring_sale', recipients: [{ toString: 1 }] });
    assert.equal(odd.status, 400, odd.text);

    // Meta's marketing opt-out withdraws the newsletter here too: the next campaign skips him.
    await max.turnsMarketing('stop');
    assert.equal((await status('05', max.phone, 'newsletter')).status, 'withdrawn');
    const after = await postJson('/broadcast-ex05', {
      template: 'spring_sale',
      language: 'de',
      recipients: [max.phone],
    });
    assert.deepEqual((after.body as { blocked: unknown[] }).blocked, [{ to: max.phone, reason: 'withdrawn' }]);
    await max.receivedExactly(2);
  });

  it('06 order updates: template outside the window, text inside it, blocked after STOP', async () => {
    const erika = await customerOf('06');
    const order = { to: erika.phone, orderId: '10023', status: 'shipped' };
    const first = await postJson('/order-ex06', order);
    assert.equal(first.status, 200, first.text);
    assert.equal((first.body as { kind: string }).kind, 'template');
    const [template] = await erika.receivedExactly(1);
    assert.equal(template.template?.name, 'order_update');
    // The template's parameters in its language: the status word, not the shop's code 'shipped'.
    assert.equal(template.template?.language, 'de');
    assert.deepEqual(template.template?.params, [{ component: 'body', values: ['10023', 'versendet'] }]);
    const max = await customerOf('06', '+447911123458', 'Max');
    const english = await postJson('/order-ex06', { to: max.phone, orderId: '10024', status: 'received' });
    assert.equal((english.body as { kind: string }).kind, 'template', english.text);
    const [inEnglish] = await max.receivedExactly(1);
    assert.equal(inEnglish.template?.language, 'en');
    assert.deepEqual(inEnglish.template?.params, [{ component: 'body', values: ['10024', 'received'] }]);

    await erika.says('Wo bleibt mein Paket?');
    const second = await postJson('/order-ex06', { ...order, status: 'delivered' });
    assert.equal((second.body as { kind: string }).kind, 'text', second.text);
    const [, text] = await erika.receivedExactly(2);
    assert.match(text.text, /^Ihre Bestellung 10023 wurde zugestellt\./);

    await erika.says('STOP');
    await erika.receivedExactly(3);
    const blocked = await postJson('/order-ex06', order);
    assert.equal(blocked.status, 409);
    assert.deepEqual(blocked.body, { outcome: 'blocked', reason: 'withdrawn' });
    await erika.receivedExactly(3);

    // A number without country code: the shop gets an answer (it used to wait for ever), nobody gets a message.
    const invalid = await postJson('/order-ex06', { ...order, to: '0151 2345678' });
    assert.equal(invalid.status, 400, invalid.text);
    // The same shape as the staff gate's answers: a code, and a message without the 'Error: ' prefix.
    const refusal = invalid.body as { error?: string; message?: string };
    assert.equal(refusal.error, 'invalid-phone', invalid.text);
    assert.ok(refusal.message && !refusal.message.startsWith('Error:'), invalid.text);
  });

  it('07 data subject requests: export and erase for staff and by keyword; a bad request changes nothing', async () => {
    const erika = await subscribed('07');
    await erika.says('Meine Daten');
    const summary = (await erika.receivedExactly(4))[3];
    // The purpose by its name (the store's label), not its id; the notice line as a sentence, not a count.
    assert.match(
      summary.text,
      /Das speichern wir über Sie: Ihre Nummer \(verschlüsselt\), wann Sie uns zuletzt geschrieben haben, und diese Einträge:\n- Newsletter: erteilt \(\d{1,2}\.\d{1,2}\.\d{4}\)\n/,
    );
    // The privacy notice went before the request for her consent, on first contact.
    assert.match(
      summary.text,
      /\nDatenschutzhinweis zuletzt gezeigt am \d{1,2}\.\d{1,2}\.\d{4}\. Eine vollständige Auskunft/,
    );
    // The chat answer is a summary: the full answer with a copy follows within a month (Art. 12(3), 15(1), (3)).
    assert.match(
      summary.text,
      /Eine vollständige Auskunft mit einer Kopie Ihrer Daten senden wir Ihnen innerhalb eines Monats; Ihre Anfrage haben wir an unser Team weitergegeben\. Mit DATEN LÖSCHEN/,
    );

    const download = await fetch(`${red.url}/dsr-ex07/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...STAFF },
      body: JSON.stringify({ phone: erika.phone }),
    });
    assert.equal(download.status, 200);
    assert.match(String(download.headers.get('content-disposition')), /^attachment; filename="whatsapp-data-/);
    const document = (await download.json()) as {
      found: boolean;
      subject: { phone: string };
      consents: { method?: string; requestedAt?: number }[];
      notices: unknown[];
    };
    assert.equal(document.found, true);
    assert.equal(document.subject.phone, erika.phone);
    assert.equal(document.consents.length, 1);
    // A double opt-in: the proof names the request she confirmed, and the notice she saw before it is listed.
    assert.equal(typeof document.consents[0].requestedAt, 'number', JSON.stringify(document.consents[0]));
    assert.equal(document.notices.length, 1);
    // The same for the person in plain words, in German for her German number.
    const letter = await fetch(`${red.url}/dsr-ex07/letter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...STAFF },
      body: JSON.stringify({ phone: erika.phone }),
    });
    assert.equal(letter.status, 200);
    assert.match(String(letter.headers.get('content-disposition')), /^attachment; filename="whatsapp-data-.*\.txt"$/);
    const words = await letter.text();
    assert.match(words, /^Ihre Daten bei uns: Auskunft nach Art\. 15 DSGVO\n/);
    assert.match(
      words,
      /\n- Newsletter: Einwilligung erteilt \(.*\)\n {2}Wortlaut: „Ja, ich möchte den Newsletter von Beispiel Shop/,
    );
    assert.match(words, /\n {2}Bestätigt: .* durch Tippen auf die Schaltfläche\n/);
    // Staff may ask for it in English.
    for (const bad of [{ phone: 'abc' }, {}]) {
      const refused = await postJson('/dsr-ex07/letter', bad);
      assert.equal(refused.status, 400, `${JSON.stringify(bad)}: ${refused.text}`);
    }
    const english = await postJson('/dsr-ex07/letter', { phone: erika.phone, language: 'en' });
    assert.match(english.text, /^Your data with us: access under Art\. 15 GDPR\nFrom: Beispiel Shop GmbH, /);

    await erika.says('DATEN LÖSCHEN');
    const notice = (await erika.receivedExactly(5))[4];
    assert.match(notice.text, /Ihre Daten wie gewünscht gelöscht/);
    assert.equal((await status('07', erika.phone, 'newsletter')).status, 'erased');
    // Erased, she writes again (in a later second: Meta's times are whole seconds): she is back, so the privacy notice
    // goes first, and the answer offers her data rights, no newsletter.
    await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
    await erika.says('Hallo?');
    const [again, reply] = (await erika.receivedExactly(7)).slice(5);
    assert.match(again.text, /Datenschutzerklärung: /, brief(again));
    const answer = reply.text;
    assert.match(answer, /^MEINE DATEN: /, answer);
    assert.doesNotMatch(answer, /ANMELDEN|Newsletter|Angebot/i, answer);

    const max = await subscribed('07', 'Max');
    // Staff name who handles the request; a number there is refused (it would be personal data in the audit log).
    const named = await postJson('/dsr-ex07/erase', { phone: max.phone, requestedBy: `ticket for ${max.phone}` });
    assert.equal(named.status, 400, named.text);
    assert.equal((await status('07', max.phone, 'newsletter')).status, 'given', 'a refused request erases nothing');
    const erased = await postJson('/dsr-ex07/erase', { phone: max.phone, requestedBy: 'Ticket 4711' });
    assert.equal(erased.status, 200, erased.text);
    const report = erased.body as { found: boolean; total: number; pseudonym: string; requestedBy?: string };
    assert.equal(report.found, true);
    assert.ok(report.total > 0);
    assert.equal(report.requestedBy, 'Ticket 4711', 'recorded with the erasure');
    assert.doesNotMatch(erased.text, new RegExp(max.waId));
    assert.equal((await status('07', max.phone, 'newsletter')).status, 'erased');
    const unknown = await postJson('/dsr-ex07/erase', { phone: newPhone() });
    assert.equal((unknown.body as { found: boolean }).found, false);

    const bad = await postJson('/dsr-ex07/erase', { phone: 'call me maybe' });
    assert.equal(bad.status, 400);
    assert.ok((bad.body as { error: string }).error);
  });

  it("07 data subject requests: one person's number with another's user id is refused with 400, nothing erased", async () => {
    const erika = await customerOf('07');
    await erika.saysWithUserId('ANMELDEN', 'DE.700700700');
    await erika.receivedExactly(2);
    await erika.tapsReplyButton('gdpr-confirm:newsletter', 'JA');
    await erika.receivedExactly(3);
    assert.equal((await status('07', erika.phone, 'newsletter')).status, 'given');
    const max = await subscribed('07', 'Max');
    for (const endpoint of ['/dsr-ex07/erase', '/dsr-ex07/export']) {
      const refused = await postJson(endpoint, { phone: max.phone, userId: 'DE.700700700' });
      assert.equal(refused.status, 400, `${endpoint}: ${refused.text}`);
      assert.equal((refused.body as { error?: string }).error, 'subject-mismatch', refused.text);
    }
    assert.equal((await status('07', erika.phone, 'newsletter')).status, 'given');
    assert.equal((await status('07', max.phone, 'newsletter')).status, 'given');
  });

  it('staff endpoints answer only with the staff token, and a refused request changes nothing', async () => {
    const endpoints: { url: string; method: string }[] = [];
    for (const loaded of examples.values()) {
      const gates = new Set(loaded.nodes.filter((n) => n.name === 'staff only?').map((n) => n.id));
      for (const n of loaded.nodes) {
        const wires = (n.wires as string[][] | undefined) ?? [];
        if (n.type === 'http in' && wires.flat().some((id) => gates.has(id))) {
          endpoints.push({ url: String(n.url), method: String(n.method).toUpperCase() });
        }
      }
    }
    assert.equal(endpoints.length, 15, JSON.stringify(endpoints));
    const erika = await subscribed('07');
    for (const { url, method } of endpoints) {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${STAFF_TOKEN}x`, STAFF_TOKEN]) {
        const answer = await fetch(`${red.url}${url}`, {
          method,
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: method === 'POST' ? JSON.stringify({ phone: erika.phone, recipients: [erika.phone] }) : undefined,
        });
        assert.equal(answer.status, 401, `${method} ${url} with ${authorization}`);
        assert.equal(((await answer.json()) as { error: string }).error, 'staff-token-required');
      }
    }
    assert.equal((await status('07', erika.phone, 'newsletter')).status, 'given', 'a refused erasure erased nothing');
    await erika.receivedExactly(3);
  });

  it('08 retention: an on-demand sweep reports, the audit chain verifies, and a tampered chain alerts', async () => {
    const sweep = await postJson('/retention-ex08/sweep', {});
    assert.equal(sweep.status, 200);
    for (const key of ['expiredRequests', 'personalDataRemoved', 'proofRemoved', 'auditEventsRemoved']) {
      assert.equal(typeof (sweep.body as Record<string, unknown>)[key], 'number', key);
    }
    const verified = await getJson('/retention-ex08/verify');
    assert.equal(verified.status, 200);
    assert.equal(verified.body.ok, true);
    assert.ok(Number(verified.body.count) >= 1, 'the sweep is in the audit log');

    // The auditor's copy: a download of JSON lines that checks without Node-RED.
    const download = await fetch(`${red.url}/retention-ex08/audit`, { headers: STAFF });
    assert.equal(download.status, 200);
    assert.match(String(download.headers.get('content-disposition')), /attachment; filename="whatsapp-audit\.jsonl"/);
    const lines = (await download.text()).split('\n');
    const { verifyAuditLines } = await import('../../lib/index');
    const checked = verifyAuditLines(lines);
    assert.equal(checked.ok, true, JSON.stringify(checked));
    assert.ok(checked.count >= Number(verified.body.count), 'every verified event, and the verification itself');
    assert.equal((await fetch(`${red.url}/retention-ex08/audit`)).status, 401, 'staff only');

    const storeNode = example('08').only('consent-store');
    const file = path.join(red.userDir, String(storeNode.sqlitePath));
    const { openSqliteDatabase } = await import('../../lib/store/sqlite-driver');
    const { db } = openSqliteDatabase(file);
    try {
      db.exec('PRAGMA busy_timeout = 10000; DROP TRIGGER audit_append_only;');
      db.prepare("UPDATE audit SET outcome = 'rewritten' WHERE seq = 1").run();
    } finally {
      db.close();
    }
    const mark = red.log().length;
    const broken = await getJson('/retention-ex08/verify');
    assert.equal(broken.status, 500);
    assert.equal(broken.body.ok, false);
    assert.equal(broken.body.firstBrokenSeq, 1);
    await red.waitForLog(/Audit chain broken at event 1/, 5000, mark);
  });

  it('09 CRM sync: consent changes reach the CRM by pseudonym, never with the number', async () => {
    const erika = await subscribed('09');
    await erika.says('STOP');
    await erika.receivedExactly(2);
    const pseudonym = await withStore(red.userDir, example('09').only('consent-store'), async (ledger) => {
      return (await ledger.getConsent(erika.phone, 'newsletter'))?.pseudonym;
    });
    let calls: { event: string; contact: { whatsappPseudonym: string }; purpose: string; eventId: number }[] = [];
    // Two HTTP hops to the CRM: up to 15 s on a loaded machine; the comparison below says what is missing.
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      calls = (await getJson('/crm-ex09/events')).body as unknown as typeof calls;
      if (calls.filter((c) => c.contact.whatsappPseudonym === pseudonym).length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const erikas = calls.filter((c) => c.contact.whatsappPseudonym === pseudonym);
    // What the CRM was told is for staff, like the other endpoints.
    assert.equal((await fetch(`${red.url}/crm-ex09/events`)).status, 401);
    assert.deepEqual(
      erikas.map((c) => [c.event, c.purpose]),
      [
        ['consent.given', 'newsletter'],
        ['consent.withdrawn', 'newsletter'],
      ],
    );
    const [given, withdrawn] = erikas.map((c) => c.eventId);
    assert.ok(Number.isInteger(given) && withdrawn > given, 'each call names its event, for the CRM to drop a repeat');
    // The example acknowledges on return: the cursor reaches the withdrawal only through the wire back from the
    // CRM's 2xx to consent-events' input.
    const events = example('09').only('consent-events');
    assert.equal(events.acknowledge, 'returned');
    let acknowledged: number | undefined;
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
      acknowledged = acknowledgedEventId(red.userDir, example('09').only('consent-store'), String(events.id));
      if ((acknowledged ?? 0) >= withdrawn) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok((acknowledged ?? 0) >= withdrawn, `acknowledged up to ${acknowledged}, not ${withdrawn}`);
    const everything = JSON.stringify(calls);
    assert.doesNotMatch(everything, new RegExp(erika.waId), 'no phone number leaves for the CRM');
  });

  /** A German form sign-up to example `number`'s form at `path`; resolves once her confirmation request came. */
  async function signedUpByForm(number: string, path: string) {
    const customer = await customerOf(number);
    const form = await fetch(`${red.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: customer.phone, consent: 'on', language: 'de' }),
    });
    assert.equal(form.status, 200, await form.clone().text());
    const [request] = await customer.receivedExactly(1);
    return { customer, request };
  }

  it('01 and 10: a JA after another message confirms nothing and says how; a tap on the request confirms', async () => {
    // Meta's times are whole seconds, and a person reads a question before answering it: her "Ja" comes in a later
    // second than the message before it (one in the same second is taken as part of the same message burst).
    const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
    // Example 01 asks nothing of its own: it says how to confirm.
    const { customer: erika, request } = await signedUpByForm('01', '/optin-ex01');
    await erika.says('Wann kommt der erste Newsletter?');
    await erika.receivedExactly(1);
    await nextSecond();
    await erika.says('Ja');
    const [, unclear] = await erika.receivedExactly(2);
    assert.match(unclear.text, /^Ihr Ja hat Sie nicht angemeldet: Newsletter\. /, brief(unclear));
    assert.equal((await status('01', erika.phone, 'newsletter')).status, 'pending');
    await erika.tapsTemplateButton(String(request.buttons?.[0]?.id), 'JA');
    const [, , thanks] = await erika.receivedExactly(3);
    assert.match(thanks.text, /Ihre Einwilligung ist bestätigt/);

    // Example 10: "Löschen" right after the form's request; the bot asks, and her "Ja" answers that question.
    const { customer: jana, request: janaRequest } = await signedUpByForm('10', '/optin');
    await jana.says('Löschen');
    const [, , question] = await jana.receivedExactly(3);
    assert.match(question.text, /DATEN LÖSCHEN/, brief(question));
    await nextSecond();
    await jana.says('Ja');
    const [, , , answer] = await jana.receivedExactly(4);
    assert.match(
      answer.text,
      /^Ihr Ja hat Sie nicht angemeldet: Newsletter\. .*\nMöchten Sie etwas anderes\? Zum Löschen Ihrer Daten antworten Sie mit DATEN LÖSCHEN, zum Abmelden mit STOP\.$/s,
      brief(answer),
    );
    assert.equal((await status('10', jana.phone, 'newsletter')).status, 'pending');
    // The request's button confirms; a second tap tells her she is signed up already, not the menu's offer to sign up.
    await jana.tapsTemplateButton(String(janaRequest.buttons?.[0]?.id), 'JA');
    const confirmed = (await jana.receivedExactly(5))[4];
    assert.match(confirmed.text, /Ihre Einwilligung ist bestätigt: Newsletter\./, brief(confirmed));
    await nextSecond();
    await jana.tapsTemplateButton(String(janaRequest.buttons?.[0]?.id), 'JA');
    const again = (await jana.receivedExactly(6))[5];
    assert.match(again.text, /^Sie sind bereits angemeldet: Newsletter\. /, brief(again));

    // Example 10 by keyword: a question seconds after ANMELDEN, and her "ja" may answer the shop's answer to it.
    const lena = await customerOf('10');
    await lena.says('ANMELDEN');
    const asked = (await lena.receivedExactly(2)).length;
    await nextSecond();
    await lena.says('Haben Sie die Jacke auch in Größe M?');
    await lena.receivedExactly(asked + 1);
    // Past the first seconds after the request, in which no one can have read it.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await lena.says('ja');
    const unclearYes = (await lena.receivedExactly(asked + 2))[asked + 1];
    assert.match(unclearYes.text, /^Ihr Ja hat Sie nicht angemeldet: Newsletter\. /, brief(unclearYes));
    assert.equal((await status('10', lena.phone, 'newsletter')).status, 'pending');

    // A "ja" typed at once after ANMELDEN came too soon to answer the request: she is told to tap JA in it, and is
    // offered no erasure while she is signing up.
    const mia = await customerOf('10');
    await mia.says('ANMELDEN');
    const requested = (await mia.receivedExactly(2)).length;
    await nextSecond();
    await mia.says('ja');
    const tooSoon = (await mia.receivedExactly(requested + 1))[requested];
    assert.match(
      tooSoon.text,
      /^Wir haben Ihnen eine Anmeldeanfrage geschickt\. Bitte tippen Sie darin auf JA, um sich anzumelden: Newsletter\./,
      brief(tooSoon),
    );
    assert.doesNotMatch(tooSoon.text, /DATEN LÖSCHEN/, brief(tooSoon));
    assert.equal((await status('10', mia.phone, 'newsletter')).status, 'pending');
  });

  it('10 complete bot: form, confirmation, notice, campaign, order, STOP, erasure; refusals on the way', async () => {
    const erika = await customerOf('10');
    // Art. 13: the form that collects the number links the policy page, in the visitor's language.
    const formResponse = await fetch(`${red.url}/optin?lang=de`);
    assert.equal(formResponse.headers.get('content-security-policy'), "frame-ancestors 'none'", 'not to be framed');
    const formPage = await formResponse.text();
    const odd = await fetch(`${red.url}/optin?lang[toString]=x`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(odd.status, 200, 'a query value that is no text gets the page');
    const policyLink = formPage.match(/<a href="([^"]+)">Datenschutzerklärung/)?.[1];
    assert.equal(policyLink, 'privacy?lang=de', formPage);
    assert.equal((await fetch(`${red.url}/${policyLink}`)).status, 200);
    // Express serves the page at "/optin/" too: its form and links still lead to "/optin" and "/privacy".
    const slashed = await fetch(`${red.url}/optin/?lang=de`);
    const slashedPage = await slashed.text();
    const resolved = (pattern: RegExp) => new URL(slashedPage.match(pattern)?.[1] ?? '', slashed.url).pathname;
    assert.equal(resolved(/<form method="post" action="([^"]+)"/), new URL(`${red.url}/optin`).pathname, slashedPage);
    assert.equal(resolved(/<a href="([^"]+)">Datenschutzerklärung/), new URL(`${red.url}/privacy`).pathname);
    const slashedPost = await fetch(`${red.url}/optin/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: 'no number', consent: 'on', language: 'de' }),
    });
    const back = (await slashedPost.text()).match(/<a href="([^"]+)">Zurück zum Formular/)?.[1] ?? '';
    assert.equal(new URL(back, slashedPost.url).pathname, new URL(`${red.url}/optin`).pathname, back);
    // Erika types her number as Germans do; the form's default country (DE) reads it.
    assert.match(erika.phone, /^\+49/);
    const form = await fetch(`${red.url}/optin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: `0${erika.phone.slice(3)}`, consent: 'on', language: 'de' }),
    });
    assert.equal(form.status, 200, await form.clone().text());
    const [request] = await erika.receivedExactly(1);
    assert.equal(request.template?.name, 'consent_request');
    await erika.tapsTemplateButton(String(request.buttons?.[0]?.id), 'JA');
    const [, notice, thanks] = await erika.receivedExactly(3);
    assert.equal(notice.text.match(/Datenschutzerklärung: (\S+?)\.?\s/)?.[1], `${red.url}/privacy`, notice.text);
    assert.match(thanks.text, /Ihre Einwilligung ist bestätigt/);

    const stranger = await customerOf('10');
    // Her number twice in one spelling and once in another: she gets the campaign once.
    const erikaSpaced = `${erika.phone.slice(0, 3)} ${erika.phone.slice(3, 6)} ${erika.phone.slice(6)}`;
    const campaign = await postJson('/broadcast', {
      template: 'autumn_sale',
      language: 'de',
      recipients: [erika.phone, stranger.phone, erika.phone, erikaSpaced],
    });
    assert.deepEqual(campaign.body, {
      template: 'autumn_sale',
      total: 4,
      sent: 1,
      blocked: [{ to: stranger.phone, reason: 'none' }],
      failed: [],
      duplicates: [erika.phone, erikaSpaced],
    });
    assert.equal((await erika.receivedExactly(4))[3].template?.name, 'autumn_sale');
    await stranger.receivedExactly(0);

    const order = await postJson('/order', { to: erika.phone, orderId: 'A-7', status: 'shipped' });
    assert.deepEqual((order.body as { outcome: string; kind: string }).kind, 'text', order.text);
    assert.match((await erika.receivedExactly(5))[4].text, /Ihre Bestellung A-7 wurde versendet/);
    // No status: nothing is sent (it once sent 'Ihre Bestellung A-10 undefined.'); the shop's mistake, a 400.
    const noStatus = await postJson('/order', { to: erika.phone, orderId: 'A-10' });
    assert.equal(noStatus.status, 400, noStatus.text);
    assert.match(noStatus.text, /Unknown order status/);
    // No order number, or one that carries a line and a link into her message: a 400, nothing sent.
    for (const orderId of [undefined, '', 'A-12\nJetzt klicken: https://evil.example']) {
      const bad = await postJson('/order', { to: erika.phone, orderId, status: 'shipped' });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /orderId must be an order number/);
    }
    await erika.receivedExactly(5);

    // Advertising objected to in so many words (Art. 21(3) GDPR): the newsletter ends at once, she is told so and how
    // to end the rest; order updates go on.
    await erika.says('Bitte keine Werbung mehr');
    assert.equal(
      (await erika.receivedExactly(6))[5].text,
      'Verstanden: Sie erhalten keine Werbung mehr von uns (Newsletter). Wenn Sie auch unsere übrigen Nachrichten nicht mehr erhalten möchten, antworten Sie mit STOP.',
    );
    assert.equal((await status('10', erika.phone, 'newsletter')).status, 'withdrawn');
    const stillUpdated = await postJson('/order', { to: erika.phone, orderId: 'A-13', status: 'shipped' });
    assert.equal((stillUpdated.body as { kind?: string }).kind, 'text', stillUpdated.text);
    assert.match((await erika.receivedExactly(7))[6].text, /Ihre Bestellung A-13 wurde versendet/);
    // Other words that may mean an opt-out: she is told both ways, and nothing more is withdrawn until she takes one.
    await erika.says('Wie kann ich mich ganz abmelden?');
    assert.equal(
      (await erika.receivedExactly(8))[7].text,
      'Möchten Sie keine Werbung mehr von uns? Antworten Sie mit KEINE WERBUNG. STOP beendet alle unsere Nachrichten, auch die Bestell-Updates. Jemand aus unserem Team liest Ihre Nachricht außerdem persönlich.',
    );
    assert.equal((await postJson('/order', { to: erika.phone, orderId: 'A-14', status: 'shipped' })).status, 200);
    await erika.receivedExactly(9);
    await erika.says('STOP');
    assert.match((await erika.receivedExactly(10))[9].text, /Sie wurden abgemeldet/);
    const blocked = await postJson('/broadcast', { template: 'autumn_sale', recipients: [erika.phone] });
    assert.deepEqual((blocked.body as { blocked: unknown[] }).blocked, [{ to: erika.phone, reason: 'withdrawn' }]);
    assert.equal((await postJson('/order', { to: erika.phone, orderId: 'A-8', status: 'shipped' })).status, 409);
    assert.equal((await postJson('/order', { to: 'nobody', orderId: 'A-9', status: 'shipped' })).status, 400);
    // A user id the API does not know: Meta refuses this message for good, so the shop gets 422 and Meta's reason, not a
    // 502 it would retry.
    const unknownUser = await postJson('/order', { to: 'DE.9876543210987', orderId: 'A-11', status: 'shipped' });
    assert.equal(unknownUser.status, 422, unknownUser.text);
    assert.deepEqual(
      [(unknownUser.body as { code?: unknown }).code, (unknownUser.body as { title?: unknown }).title],
      [100, 'Invalid parameter'],
      unknownUser.text,
    );
    await erika.receivedExactly(10);

    // A request to erase put in other words: she is told how, a person is asked to read it, and nothing is erased.
    const flagged = red.log().length;
    await erika.says('Meine Nummer soll gelöscht werden');
    assert.match(
      (await erika.receivedExactly(11))[10].text,
      /^Möchten Sie, dass wir Ihre Daten löschen\? Antworten Sie mit DATEN LÖSCHEN/,
    );
    await red.waitForLog(/may ask to erase or to see her data \(GELOESCHT\)/, 5000, flagged);
    // Asking what is stored is no wish to be deleted: the answer offers MEINE DATEN first.
    await erika.says('Welche Daten haben Sie über mich gespeichert?');
    assert.match(
      (await erika.receivedExactly(12))[11].text,
      /^Möchten Sie sehen, was wir über Sie speichern\? Antworten Sie mit MEINE DATEN\. Zum Löschen /,
    );
    // An opt-out in other words asked together with an erasure: both are answered, the erasure not lost behind the
    // opt-out (the two answers take separate paths, so either may arrive first).
    await erika.says('Keine Werbung mehr und löschen Sie meine Daten');
    const bothAnswers = (await erika.receivedExactly(14)).slice(12).map((message) => message.text);
    assert.ok(
      bothAnswers.some((text) => /^Verstanden: Sie erhalten keine Werbung mehr/.test(text ?? '')),
      bothAnswers.join(' | '),
    );
    assert.ok(
      bothAnswers.some((text) => /^Möchten Sie, dass wir Ihre Daten löschen\?/.test(text ?? '')),
      bothAnswers.join(' | '),
    );
    assert.equal((await status('10', erika.phone, 'newsletter')).status, 'withdrawn');

    const erased = await postJson('/dsr/erase', { phone: erika.phone });
    assert.equal((erased.body as { found: boolean }).found, true);
    assert.equal((await status('10', erika.phone, 'newsletter')).status, 'erased');
    const again = await fetch(`${red.url}/optin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: erika.phone, language: 'de' }),
    });
    assert.equal(again.status, 400, 'an unticked box is refused');
    await erika.receivedExactly(14);

    const crm = (await getJson('/crm/events')).body as unknown as { event: string }[];
    assert.ok(
      ['consent.requested', 'consent.confirmed', 'consent.withdrawn', 'subject.erased'].every((type) =>
        crm.some((call) => call.event === type),
      ),
      JSON.stringify(crm),
    );
    const verified = await getJson('/retention/verify');
    assert.equal(verified.body.ok, true);
    const policy = await fetch(`${red.url}/privacy?lang=en`);
    assert.equal(policy.status, 200);
    // Each page names the erase keyword in its own language (the example lists DATEN LÖSCHEN, DELETE MY DATA).
    const english = await policy.text();
    assert.match(english, /reply DELETE MY DATA in the chat/);
    assert.doesNotMatch(english, /DATEN LÖSCHEN/);
    // And the access keyword its chat answers (MEINE DATEN, MY DATA) beside the address.
    assert.match(english, /\(Art\. 15 and 20 GDPR\): reply MY DATA in the chat or contact us/);
    // Its STOP objects to order updates too: the page says so, by the purpose's name in the page's language.
    assert.match(english, /STOP also ends the messages we send you without needing your consent \(Order updates\)\./);
    const german = await (await fetch(`${red.url}/privacy?lang=de`)).text();
    assert.match(german, /Antworten Sie im Chat mit DATEN LÖSCHEN oder/);
    assert.match(german, /\(Art\. 15 und 20 DSGVO\): Antworten Sie im Chat mit MEINE DATEN oder/);
    assert.match(
      german,
      /STOP beendet auch die Nachrichten, die wir Ihnen ohne Einwilligung senden \(Bestell-Updates\)\./,
    );
  });

  it('09 CRM sync: a move to another number re-keys the contact in the CRM, without either number', async () => {
    const erika = await subscribed('09');
    const pseudonym = await withStore(red.userDir, example('09').only('consent-store'), async (ledger) => {
      return (await ledger.getConsent(erika.phone, 'newsletter'))?.pseudonym;
    });
    const newNumber = newPhone();
    await erika.changesNumber(newNumber);
    type Contacts = Record<string, { purposes: Record<string, string>; previously: string[] }>;
    let movedTo: string | undefined;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && movedTo === undefined; ) {
      const calls = (await getJson('/crm-ex09/events')).body as unknown as {
        event: string;
        contact: { whatsappPseudonym: string; movedTo?: string };
      }[];
      const move = calls.find((c) => c.event === 'subject.number-changed' && c.contact.whatsappPseudonym === pseudonym);
      movedTo = move?.contact.movedTo;
      if (movedTo === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(movedTo, 'the CRM heard of the move');
    const contacts = (await getJson('/crm-ex09/events?view=contacts')).body as unknown as Contacts;
    assert.equal(contacts[String(pseudonym)], undefined, 'nothing left under the number she left');
    // Her old number's consent ended with the move, and her record is under the pseudonym she moved to.
    assert.deepEqual(
      [contacts[movedTo]?.purposes, contacts[movedTo]?.previously],
      [{ newsletter: 'withdrawn' }, [pseudonym]],
    );
    assert.doesNotMatch(JSON.stringify(contacts), new RegExp(`${erika.waId}|${newNumber.replace('+', '')}`));
  });

  /** The key the example's 'to CRM' made at deploy for its CRM stand-in, read through the admin API. */
  async function crmStandInKey(number: string): Promise<string> {
    const tab = String(example(number).only('tab').id);
    const answer = await fetch(`${red.url}/context/flow/${tab}/crmStandInKey`);
    const key = ((await answer.json()) as { msg?: unknown }).msg;
    assert.equal(typeof key, 'string', `example ${number} made a stand-in key`);
    return key as string;
  }

  it("09, 10 CRM stand-ins: only the flow's own key adds a call (never the staff token), and a call is kept with bounded fields only", async () => {
    for (const [number, url] of [
      ['09', '/crm-ex09/events'],
      ['10', '/crm/events'],
    ]) {
      const key = await crmStandInKey(number);
      assert.ok(key.length >= 32 && key !== STAFF_TOKEN, 'a key of its own');
      const fake = {
        event: 'consent.withdrawn',
        contact: { whatsappPseudonym: `fake-${url}` },
        purpose: 'newsletter',
        status: 'withdrawn',
        at: new Date().toISOString(),
        eventId: 1,
      };
      // The staff token is no key here: the flow sends the stand-in's key to an address it only assumes is its own.
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${STAFF_TOKEN}`, `Bearer ${key}x`, key]) {
        const answer = await postJson(url, fake, authorization ? { authorization } : {});
        assert.equal(answer.status, 401, `POST ${url} with ${authorization}`);
        assert.equal((answer.body as { error: string }).error, 'stand-in-key-required');
      }
      const withKey = { authorization: `Bearer ${key}` };
      // More than a CRM keeps of a call: the call's own fields are kept, the rest is not.
      const padded = await postJson(url, { ...fake, eventId: 2, notes: 'x'.repeat(1_000_000) }, withKey);
      assert.equal(padded.status, 202, padded.text);
      // A field beyond its bound is a malformed call, refused for good.
      const oversized = await postJson(url, { ...fake, eventId: 3, event: 'x'.repeat(1000) }, withKey);
      assert.equal(oversized.status, 422, oversized.text);
      const calls = (await getJson(url)).body as unknown as { contact: { whatsappPseudonym: string } }[];
      const kept = calls.filter((call) => call.contact.whatsappPseudonym === fake.contact.whatsappPseudonym);
      assert.deepEqual(kept, [{ ...fake, eventId: 2 }], url);
      assert.ok(JSON.stringify(calls).length < 100 * 1024, `${url} keeps little`);
    }
  });

  it('10 complete bot: every answer to a first message passes the privacy notice (MEINE DATEN, STOP, HILFE, erasure)', async () => {
    const answers: [string, RegExp][] = [
      // The export ran before the notice was shown: the answer must not say none was (it is the message above).
      [
        'MEINE DATEN',
        /^Das speichern wir über Sie: Ihre Nummer \(verschlüsselt\), wann Sie uns zuletzt geschrieben haben, und diese Einträge:\n- keine\nUnseren Datenschutzhinweis haben Sie mit der Nachricht davor erhalten\. /,
      ],
      // A STOP ends the order updates too (an objection): the confirmation says so.
      [
        'STOP',
        /^Sie wurden abgemeldet: Wir senden Ihnen keine Nachrichten mehr, auch keine Bestell-Updates\. Um sich für unseren Newsletter anzumelden, antworten Sie mit ANMELDEN\.$/,
      ],
      // Help names what she can do here: no advertising only, her data, erasure, sign-up, besides STOP.
      [
        'HILFE',
        /^Antworten Sie jederzeit mit STOP, .*\(auch von den Bestell-Updates\), oder mit KEINE WERBUNG, um nur keine Werbung mehr zu erhalten\. MEINE DATEN zeigt, was wir über Sie speichern, DATEN LÖSCHEN löscht Ihre Daten bei uns, ANMELDEN /,
      ],
    ];
    for (const [first, expected] of answers) {
      const newcomer = await customerOf('10');
      await newcomer.says(first);
      const [notice, answer] = await newcomer.receivedExactly(2);
      assert.match(notice.text, /Datenschutzerklärung: /, `${first}: ${brief(notice)}`);
      // The STOP confirmation keeps its footer-free text (msg.optOutFooter = false) behind the notice.
      assert.match(answer.text, expected, `${first}: ${brief(answer)}`);
      const exported = await withStore(red.userDir, example('10').only('consent-store'), (ledger) =>
        ledger.exportSubject(newcomer.phone, 'e2e-test'),
      );
      assert.equal(exported.notices.length, 1, `${first}: the notice shown is recorded`);
    }
    // The erasure's confirmation passes the notice node too, which shows nothing to a person it has just erased:
    // recording the notice would store data about her again.
    const leaving = await customerOf('10');
    await leaving.says('DATEN LÖSCHEN');
    const [confirmation] = await leaving.receivedExactly(1);
    assert.match(confirmation.text, /gelöscht/, brief(confirmation));
  });

  it('10 complete bot: AUSKUNFT, "Meine  Daten bitte!" and "my data please" get what is stored, not the menu', async () => {
    const asked: [string, string, RegExp][] = [
      ['Auskunft', newPhone(), /^Das speichern wir über Sie: /],
      ['Meine  Daten bitte!', newPhone(), /^Das speichern wir über Sie: /],
      ['Meine Daten, bitte', newPhone(), /^Das speichern wir über Sie: /],
      ['Bitte Auskunft über meine Daten', newPhone(), /^Das speichern wir über Sie: /],
      ['my data please', '+447911123458', /^What we store about you: /],
    ];
    for (const [text, phone, expected] of asked) {
      const customer = await customerOf('10', phone);
      await customer.says(text);
      const [, answer] = await customer.receivedExactly(2);
      assert.match(answer.text, expected, `${text}: ${brief(answer)}`);
    }
  });

  it('10 complete bot: ANMELDEN asks first; again it says how to confirm, then signed up already; after STOP, MEINE DATEN names the purposes', async () => {
    const customer = await customerOf('10');
    await customer.says('ANMELDEN');
    const [notice, request] = await customer.receivedExactly(2);
    assert.match(notice.text, /Datenschutzerklärung: /, 'the notice before the request on first contact');
    assert.match(request.text, /^Sie möchten von uns über WhatsApp Nachrichten erhalten: „/, brief(request));
    // Again before her yes: the request she has is the way in.
    await customer.says('Anmelden');
    const pending = (await customer.receivedExactly(3))[2];
    assert.match(
      pending.text,
      /^Wir haben Ihnen eine Anmeldeanfrage geschickt\. Bitte tippen Sie darin auf JA, um sich anzumelden: Newsletter\./,
      brief(pending),
    );
    await customer.tapsReplyButton('gdpr-confirm:newsletter', 'JA');
    assert.match((await customer.receivedExactly(4))[3].text, /^Vielen Dank, Ihre Einwilligung ist bestätigt/);
    // Again: she is told she is signed up already, not "jetzt angemeldet" as if something had changed.
    await customer.says('Anmelden');
    const again = (await customer.receivedExactly(5))[4];
    assert.match(again.text, /^Sie sind bereits angemeldet: Newsletter\. /, brief(again));
    await customer.says('STOP');
    await customer.receivedExactly(6);
    await customer.says('MEINE DATEN');
    const data = (await customer.receivedExactly(7))[6].text;
    // Each purpose by its German name from the store's settings, not its id.
    assert.match(data, /^- Newsletter: widerrufen \(/m, data);
    // She never consented to order updates: her STOP objected to them (Art. 21 GDPR), it withdrew nothing.
    assert.match(data, /^- Bestell-Updates: Widerspruch eingelegt \(/m, data);
    // Any other message after her STOP gets the bot's answer without advertising its newsletter.
    await customer.says('Hallo, ist meine Bestellung unterwegs?');
    const answer = (await customer.receivedExactly(8))[7].text;
    assert.match(answer, /^Danke für Ihre Nachricht! /, answer);
    assert.doesNotMatch(answer, /ANMELDEN|Newsletter|Angebot/i, answer);
    // Nor "Antworten Sie mit STOP, um sich abzumelden": she did, and nothing is left that a STOP would end.
    assert.doesNotMatch(answer, /Antworten Sie mit STOP/, answer);
    const max = await customerOf('10', '+447911123459', 'Max');
    const signedUp = await signsUpInChat(max, 'START', 'YES');
    await max.says('STOP');
    await max.receivedExactly(signedUp + 1);
    await max.says('MY DATA');
    const english = (await max.receivedExactly(signedUp + 2))[signedUp + 1].text;
    assert.match(english, /^- Newsletter: withdrawn \(/m, english);
    assert.match(english, /^- Order updates: objected to \(/m, english);
    assert.match(
      english,
      /A full copy of your data with all details follows within a month; we have passed your request on to our team\. /,
    );
    // After DATEN LÖSCHEN her objection to order updates stays in effect (an order gets 409): MEINE DATEN says so.
    const kim = await customerOf('10');
    await kim.says('STOP');
    await kim.receivedExactly(2);
    await kim.says('DATEN LÖSCHEN');
    await kim.receivedExactly(3);
    // She writes again in a later second than her erasure (Meta's times are whole seconds): she is back, and the
    // privacy notice goes before the answer again.
    await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
    await kim.says('MEINE DATEN');
    const kept = (await kim.receivedExactly(5))[4].text;
    assert.match(kept, /^Das speichern wir über Sie: .*\n- Bestell-Updates: Widerspruch eingelegt\n/, kept);
    const order = await postJson('/order', { to: kim.phone, orderId: 'K-1', status: 'shipped' });
    assert.deepEqual(order.body, { outcome: 'blocked', reason: 'withdrawn' });
  });

  it('10 complete bot: a wish for no more messages or a withdrawal in her own words ends the newsletter at once', async () => {
    for (const words of [
      'Hören Sie auf, mir zu schreiben',
      'Ich widerrufe meine Einwilligung zum Newsletter',
      'Lasst mich in Ruhe',
      'Halt! Keine Nachrichten mehr',
    ]) {
      const customer = await customerOf('10');
      const signedUp = await signsUpInChat(customer, 'ANMELDEN', 'Ja');
      await customer.says(words);
      const answer = (await customer.receivedExactly(signedUp + 1))[signedUp].text;
      // What ended, and how to end the rest: she still gets order updates until she sends STOP.
      assert.match(answer, /^Verstanden: Sie erhalten keine Werbung mehr von uns \(Newsletter\)\. .*STOP\.$/, words);
      assert.equal((await status('10', customer.phone, 'newsletter')).status, 'withdrawn', words);
      const campaign = await postJson('/broadcast', { template: 'autumn_sale', recipients: [customer.phone] });
      assert.deepEqual((campaign.body as { blocked: unknown[] }).blocked, [
        { to: customer.phone, reason: 'withdrawn' },
      ]);
    }
  });

  it('10 complete bot: "Keine Werbung mehr und löschen Sie meine Daten" ends the newsletter at once and asks about the erasure', async () => {
    const customer = await customerOf('10');
    const signedUp = await signsUpInChat(customer, 'ANMELDEN', 'Ja');
    await customer.says('Keine Werbung mehr und löschen Sie meine Daten');
    const answers = (await customer.receivedExactly(signedUp + 2)).slice(signedUp).map((m) => m.text);
    // Withdrawn, not erased: an erasure cannot be undone, she confirms it with the keyword the question names.
    assert.equal((await status('10', customer.phone, 'newsletter')).status, 'withdrawn', 'the objection took effect');
    const objection = answers.find((text) => text.startsWith('Verstanden: Sie erhalten keine Werbung mehr'));
    const question = answers.find((text) => text.startsWith('Möchten Sie, dass wir Ihre Daten löschen?'));
    assert.ok(objection && question, JSON.stringify(answers));
    // She has just objected: the question about her data carries no "Antworten Sie mit STOP" line.
    assert.doesNotMatch(question, /STOP/, question);
  });

  it('10 complete bot: "Woher habt ihr meine Nummer?" is a question about her data for a person, not thanked for', async () => {
    const customer = await customerOf('10');
    const flagged = red.log().length;
    await customer.says('Woher habt ihr meine Nummer?');
    const answer = (await customer.receivedExactly(2))[1].text;
    assert.match(answer, /^Möchten Sie sehen, was wir über Sie speichern\? Antworten Sie mit MEINE DATEN\./, answer);
    // A person is asked to read it, and she is told so: the menu is not all the answer she gets.
    assert.match(answer, / Jemand aus unserem Team liest Ihre Nachricht außerdem persönlich\.(\n|$)/, answer);
    await red.waitForLog(/may ask to erase or to see her data \(WOHER HABT IHR MEINE\)/, 5000, flagged);
    await customer.says('Wer hat euch erlaubt, mir zu schreiben?');
    const second = (await customer.receivedExactly(3))[2].text;
    assert.match(second, /^Möchten Sie sehen, was wir über Sie speichern\?/, second);
  });

  it('10 complete bot: MEINE DATEN says a request she stopped before confirming was never given, not withdrawn', async () => {
    const customer = await customerOf('10');
    await customer.says('ANMELDEN');
    await customer.receivedExactly(2);
    await customer.says('STOP');
    await customer.receivedExactly(3);
    await customer.says('MEINE DATEN');
    const summary = (await customer.receivedExactly(4))[3].text;
    assert.match(summary, /^- Newsletter: angefragt, nie bestätigt, beendet \(/m, summary);
    assert.doesNotMatch(summary, /Newsletter: widerrufen/, summary);
  });

  it('10 complete bot: "Ich möchte mich anmelden" is told the keyword; "nicht anmelden" gets the menu', async () => {
    const anna = await customerOf('10');
    await anna.says('Ich möchte mich anmelden');
    const [, howTo] = await anna.receivedExactly(2);
    assert.match(howTo.text, /^Für unseren Newsletter antworten Sie mit ANMELDEN/, howTo.text);
    await anna.says('Ich will mich nicht anmelden');
    const menu = (await anna.receivedExactly(3))[2].text;
    assert.match(menu, /^Danke für Ihre Nachricht!/, menu);
    assert.equal((await status('10', anna.phone, 'newsletter')).status, 'none', 'no request without her keyword');
  });

  it('10 complete bot: a campaign without a language goes to each recipient in hers', async () => {
    const anna = await customerOf('10');
    const annaBefore = await signsUpInChat(anna, 'ANMELDEN', 'Ja');
    const tom = await customerOf('10', '+447911123460', 'Tom');
    const tomBefore = await signsUpInChat(tom, 'START', 'Yes');
    // A German number that signed up in English: the language she signed up in, not her number's.
    const kim = await customerOf('10', undefined, 'Kim');
    assert.match(kim.phone, /^\+49/);
    const kimBefore = await signsUpInChat(kim, 'SUBSCRIBE', 'Yes');
    const recipients = [anna.phone, tom.phone, kim.phone];
    const campaign = await postJson('/broadcast', { template: 'autumn_sale', recipients });
    assert.equal((campaign.body as { sent?: number }).sent, 3, campaign.text);
    assert.equal((await anna.receivedExactly(annaBefore + 1))[annaBefore].template?.language, 'de');
    assert.equal((await tom.receivedExactly(tomBefore + 1))[tomBefore].template?.language, 'en');
    assert.equal((await kim.receivedExactly(kimBefore + 1))[kimBefore].template?.language, 'en');
    // A campaign that names its language goes out in it to everyone.
    const german = await postJson('/broadcast', { template: 'autumn_sale', language: 'de', recipients: [kim.phone] });
    assert.equal((german.body as { sent?: number }).sent, 1, german.text);
    assert.equal((await kim.receivedExactly(kimBefore + 2))[kimBefore + 1].template?.language, 'de');
  });

  it('10 complete bot: German for Liechtenstein and for an Austrian user id, in the body as in the footer (none behind the notice)', async () => {
    const footer = /\n\nAntworten Sie mit STOP, um sich abzumelden\.$/;
    const lena = await customerOf('10', '+423660234567', 'Lena');
    await lena.says('Hallo');
    const [notice, answer] = await lena.receivedExactly(2);
    assert.match(notice.text, /^Willkommen!/, brief(notice));
    assert.match(answer.text, /^Danke für Ihre Nachricht! MEINE DATEN: /, brief(answer));
    // Right behind the notice, which says how to stop, the line would say it twice; the next answer has it.
    assert.doesNotMatch(answer.text, footer, brief(answer));
    await lena.says('Hallo?');
    const next = (await lena.receivedExactly(3))[2];
    assert.match(next.text, footer, brief(next));
    // Meta withholds her (British) number: the user id's country decides, as in the package's own nodes.
    const anna = await customerOf('10', '+447911123457', 'Anna');
    await anna.saysWithNumberHidden('Hallo', 'AT.8302941177');
    const [hiddenNotice, hiddenAnswer] = await anna.receivedExactly(2);
    assert.match(hiddenNotice.text, /^Willkommen!/, brief(hiddenNotice));
    assert.match(hiddenAnswer.text, /^Danke für Ihre Nachricht! MEINE DATEN: /, brief(hiddenAnswer));
    assert.doesNotMatch(hiddenAnswer.text, footer, brief(hiddenAnswer));
    await anna.saysWithNumberHidden('Hallo?', 'AT.8302941177');
    const hiddenNext = (await anna.receivedExactly(3))[2];
    assert.match(hiddenNext.text, footer, brief(hiddenNext));
    await anna.saysWithNumberHidden('MY DATA', 'AT.8302941177');
    const data = (await anna.receivedExactly(4))[3].text;
    assert.match(
      data,
      /^Das speichern wir über Sie: .*\nDatenschutzhinweis zuletzt gezeigt am \d{1,2}\.\d{1,2}\.\d{4}\. /s,
      data,
    );
  });

  it('10 complete bot: an order update outside the window is a template with the status word in German', async () => {
    const jana = await customerOf('10', newPhone(), 'Jana');
    const order = await postJson('/order', { to: jana.phone, orderId: 'B-1', status: 'delivered' });
    assert.equal((order.body as { kind: string }).kind, 'template', order.text);
    const [template] = await jana.receivedExactly(1);
    assert.equal(template.template?.name, 'order_update');
    assert.equal(template.template?.language, 'de');
    assert.deepEqual(template.template?.params, [{ component: 'body', values: ['B-1', 'zugestellt'] }]);
    // A status no order has is refused, also one that is a name every JavaScript object knows.
    const odd = await postJson('/order', { to: jana.phone, orderId: 'B-2', status: 'constructor' });
    assert.equal(odd.status, 400, odd.text);
    // JSON can make any field an object that no text can be made of: the shop is told which field, not a JS error.
    const objectStatus = await postJson('/order', { to: jana.phone, orderId: 'B-3', status: { toString: 1 } });
    assert.equal(objectStatus.status, 400, objectStatus.text);
    assert.match(objectStatus.text, /Unknown order status: one of received, shipped, delivered/);
    const objectTo = await postJson('/order', { to: { toString: 1 }, orderId: 'B-4', status: 'shipped' });
    assert.equal(objectTo.status, 400, objectTo.text);
    assert.doesNotMatch(objectTo.text, /primitive value/);
    await jana.receivedExactly(1);
  });

  it("the installed package's main entry verifies an example store's audit export offline", async () => {
    const library = createRequire(path.join(install.moduleDir, 'package.json'))(install.moduleDir) as {
      verifyAuditLines(lines: Iterable<string>): { ok: boolean; count: number; firstBrokenSeq?: number };
    };
    const lines = await withStore(red.userDir, example('10').only('consent-store'), async (ledger) => {
      const exported: string[] = [];
      for await (const line of ledger.exportAudit()) exported.push(line);
      return exported;
    });
    const verified = library.verifyAuditLines(lines);
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.equal(verified.count, lines.length);
    assert.ok(verified.count > 5, `${verified.count} audit events`);
    const tampered = [...lines];
    const record = JSON.parse(tampered[2]);
    tampered[2] = JSON.stringify({ ...record, outcome: `${record.outcome}-edited` });
    assert.deepEqual(
      { ok: library.verifyAuditLines(tampered).ok, at: library.verifyAuditLines(tampered).firstBrokenSeq },
      { ok: false, at: record.seq },
    );
  });
});
