import assert from 'node:assert/strict';
import { CloudApiClient } from '../../../lib/cloud-api/client';
import { CloudApiError } from '../../../lib/cloud-api/errors';
import {
  TEMPLATE_CATEGORY_MAX_AGE_MS,
  TEMPLATE_LIST_BACKOFF_MS,
  TEMPLATE_LIST_MAX_BACKOFF_MS,
  TEMPLATE_MISS_MAX_AGE_MS,
  TemplateCategories,
  type TemplateListing,
} from '../../../lib/cloud-api/template-categories';
import { GdprWhatsAppError } from '../../../lib/errors';
import { Sandbox } from '../../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../../lib/sandbox/server';
import { SANDBOX_WABA_ID } from '../../../lib/webhook/build';
import { callApi } from '../sandbox/helpers';
import { FakeClock } from './fake-clock';
import { json, MockGraph, metaError, type Responder } from './mock-graph';

/** A lookup no message waits on: opt-in-flow's confirmation request goes whatever the answer. */
const BACK_OFF = { backOff: true };

describe('template categories', () => {
  describe('TemplateCategories (the memo)', () => {
    let clock: FakeClock;
    let asked: string[];
    let answer: TemplateListing[] | Error;

    function memo(): TemplateCategories {
      return new TemplateCategories(async (name) => {
        asked.push(name);
        if (answer instanceof Error) throw answer;
        return answer;
      }, clock);
    }

    beforeEach(() => {
      clock = new FakeClock();
      asked = [];
      answer = [];
    });

    it('takes the category of the exact name only, and MARKETING when any language is marketing', async () => {
      answer = [
        { name: 'offer', language: 'en', category: 'UTILITY' },
        { name: 'offer', language: 'de', category: 'MARKETING' },
        { name: 'offer_reminder', language: 'de', category: 'UTILITY' },
      ];
      assert.equal(await memo().categoryOf('offer'), 'MARKETING');
      answer = [
        { name: 'offer_2', language: 'de', category: 'MARKETING' },
        { name: 'offer', language: 'de', category: 'utility' },
      ];
      assert.equal(await memo().categoryOf('offer'), 'UTILITY');
    });

    it('asks once for concurrent and later lookups, and again after ten minutes', async () => {
      answer = [{ name: 'order_update', category: 'UTILITY' }];
      const categories = memo();
      const both = await Promise.all([categories.categoryOf('order_update'), categories.categoryOf('order_update')]);
      assert.deepEqual(both, ['UTILITY', 'UTILITY']);
      clock.advance(TEMPLATE_CATEGORY_MAX_AGE_MS - 1);
      await categories.categoryOf('order_update');
      assert.equal(asked.length, 1);
      // Meta re-categorised the template meanwhile.
      answer = [{ name: 'order_update', category: 'MARKETING' }];
      clock.advance(1);
      assert.equal(await categories.categoryOf('order_update'), 'MARKETING');
      assert.equal(asked.length, 2);
    });

    it('remembers a name Meta does not list for one minute only', async () => {
      const categories = memo();
      assert.equal(await categories.categoryOf('new_offer'), null);
      clock.advance(TEMPLATE_MISS_MAX_AGE_MS - 1);
      assert.equal(await categories.categoryOf('new_offer'), null);
      assert.equal(asked.length, 1);
      answer = [{ name: 'new_offer', category: 'MARKETING' }];
      clock.advance(1);
      assert.equal(await categories.categoryOf('new_offer'), 'MARKETING');
      assert.equal(asked.length, 2);
    });

    it('does not remember a failed lookup for a send that waits on it', async () => {
      const categories = memo();
      answer = new Error('down');
      await assert.rejects(categories.categoryOf('order_update'), /down/);
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      answer = [{ name: 'order_update', category: 'UTILITY' }];
      assert.equal(await categories.categoryOf('order_update'), 'UTILITY');
      assert.equal(asked.length, 2, 'asked again at once; the lookup with a back-off asked nothing');
    });

    it('remembers a failed lookup for a back-off that doubles, asking the list once per back-off', async () => {
      const categories = memo();
      answer = new Error('down');
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      // Another name, and the same one again: the list is down, not the name.
      await assert.rejects(categories.categoryOf('offer', BACK_OFF), /down/);
      clock.advance(TEMPLATE_LIST_BACKOFF_MS - 1);
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      assert.equal(asked.length, 1);
      clock.advance(1);
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      assert.equal(asked.length, 2);
      // Failed again after its back-off: twice as long now, up to the cap.
      clock.advance(2 * TEMPLATE_LIST_BACKOFF_MS - 1);
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      assert.equal(asked.length, 2);
      clock.advance(1);
      await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      assert.equal(asked.length, 3);
      for (let i = 0; i < 5; i++) {
        clock.advance(TEMPLATE_LIST_MAX_BACKOFF_MS);
        await assert.rejects(categories.categoryOf('order_update', BACK_OFF), /down/);
      }
      assert.equal(asked.length, 8, 'never longer than the cap');
      // Back: the answer ends the outage, and a failure after it waits the first back-off only.
      clock.advance(TEMPLATE_LIST_MAX_BACKOFF_MS);
      answer = [{ name: 'order_update', category: 'UTILITY' }];
      assert.equal(await categories.categoryOf('order_update', BACK_OFF), 'UTILITY');
      answer = new Error('down again');
      await assert.rejects(categories.categoryOf('offer', BACK_OFF), /down again/);
      clock.advance(TEMPLATE_LIST_BACKOFF_MS);
      answer = [{ name: 'offer', category: 'MARKETING' }];
      assert.equal(await categories.categoryOf('offer', BACK_OFF), 'MARKETING');
      assert.equal(asked.length, 11);
    });

    it('counts lookups that were on their way when the list failed as one failure', async () => {
      const unanswered: ((err: Error) => void)[] = [];
      const categories = new TemplateCategories((name) => {
        asked.push(name);
        return new Promise<TemplateListing[]>((_, reject) => unanswered.push(reject));
      }, clock);
      const both = [categories.categoryOf('offer', BACK_OFF), categories.categoryOf('order_update', BACK_OFF)];
      clock.advance(15_000);
      for (const reject of unanswered) reject(new Error('timeout'));
      for (const lookup of both) await assert.rejects(lookup, /timeout/);
      clock.advance(TEMPLATE_LIST_BACKOFF_MS - 1);
      await assert.rejects(categories.categoryOf('offer', BACK_OFF), /timeout/);
      assert.equal(asked.length, 2);
      clock.advance(1);
      void categories.categoryOf('offer', BACK_OFF).catch(() => {});
      assert.equal(asked.length, 3, 'asked after the first back-off, not a doubled one');
    });

    it('looks again at once when Meta reports a template changed, whatever the back-off', async () => {
      const categories = memo();
      answer = new Error('down');
      await assert.rejects(categories.categoryOf('consent_request', BACK_OFF), /down/);
      answer = [{ name: 'consent_request', category: 'MARKETING' }];
      categories.forget('consent_request');
      assert.equal(await categories.categoryOf('consent_request', BACK_OFF), 'MARKETING');
      assert.equal(asked.length, 2);
    });
  });

  describe('CloudApiClient.templateCategory against the sandbox', () => {
    const PHONE_NUMBER_ID = '107788990011223';
    const TOKEN = 'template-token';
    let sandbox: Sandbox;
    let server: RunningSandboxServer;
    const clients: CloudApiClient[] = [];

    function client(options: { wabaId?: string; token?: string } = { wabaId: SANDBOX_WABA_ID }): CloudApiClient {
      const made = new CloudApiClient({
        apiBaseUrl: server.url,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
        accessToken: options.token ?? TOKEN,
        ...(options.wabaId ? { wabaId: options.wabaId } : {}),
      });
      clients.push(made);
      return made;
    }

    before(async () => {
      // More templates starting with "promo" than one page of 100 holds: the marketing one is on the second page.
      const promos = Array.from({ length: 120 }, (_, i) => ({
        name: `promo_${i}`,
        language: 'de',
        category: 'UTILITY',
        body: 'x',
      }));
      sandbox = new Sandbox({
        templates: [...promos, { name: 'promo', language: 'de', category: 'MARKETING', body: 'x' }],
      });
      server = await startSandboxServer({ sandbox });
      sandbox.registerNumber({
        phoneNumberId: PHONE_NUMBER_ID,
        displayPhoneNumber: '+49 30 1112223',
        accessToken: TOKEN,
        appSecret: 'unused',
        webhookUrls: () => [],
      });
    });

    after(async () => {
      await Promise.all(clients.map((c) => c.close(0)));
      await server.close();
      sandbox.close();
    });

    it('follows the pages of the template list', async () => {
      assert.equal(await client().templateCategory('promo'), 'MARKETING');
      assert.equal(await client().templateCategory('promo_7'), 'UTILITY');
      assert.equal(await client().templateCategory('gone'), null);
    });

    /** A client of a sandbox of its own, made with `options`, for one test. */
    async function withOwnSandbox(
      options: ConstructorParameters<typeof Sandbox>[0],
      test: (made: CloudApiClient) => Promise<void>,
    ): Promise<void> {
      const own = new Sandbox(options);
      const ownServer = await startSandboxServer({ sandbox: own });
      try {
        own.registerNumber({
          phoneNumberId: PHONE_NUMBER_ID,
          displayPhoneNumber: '+49 30 1112223',
          accessToken: TOKEN,
          appSecret: 'unused',
          webhookUrls: () => [],
        });
        const made = new CloudApiClient({
          apiBaseUrl: ownServer.url,
          apiVersion: 'v25.0',
          phoneNumberId: PHONE_NUMBER_ID,
          accessToken: TOKEN,
          wabaId: SANDBOX_WABA_ID,
        });
        clients.push(made);
        await test(made);
      } finally {
        await ownServer.close();
        own.close();
      }
    }

    it('fails, rather than judge from a part, when the list does not end', async () => {
      const templates = Array.from({ length: 2001 }, (_, i) => ({ name: `sale_${i}`, category: 'UTILITY', body: 'x' }));
      await withOwnSandbox({ templates }, async (made) => {
        await assert.rejects(
          made.templateCategory('sale'),
          (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'template-check-failed',
        );
      });
    });

    it('lists any name asked for as a utility template when told to, as the sandbox in Node-RED is', async () => {
      const templates = [{ name: 'spring_sale', category: 'MARKETING', body: 'x' }];
      await withOwnSandbox({ templates, listUnknownTemplatesAsUtility: true }, async (made) => {
        assert.equal(await made.templateCategory('shipping_notice'), 'UTILITY');
        assert.equal(await made.templateCategory('spring_sale'), 'MARKETING');
      });
    });

    it('refuses without a business account id, asking nothing', async () => {
      await assert.rejects(
        client({}).templateCategory('promo'),
        (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'template-check-no-account',
      );
    });

    it("reports Meta's refusal of a token", async () => {
      await assert.rejects(
        client({ wabaId: SANDBOX_WABA_ID, token: 'not-the-token' }).templateCategory('promo'),
        (err: unknown) => err instanceof CloudApiError && err.apiCode === 190 && !err.retryable,
      );
    });

    it('serves the list only for an account with a registered number, and only to GET', async () => {
      const url = `${server.url}/v25.0/${SANDBOX_WABA_ID}/message_templates`;
      const unknown = await callApi(`${server.url}/v25.0/999888777/message_templates`, { token: TOKEN });
      assert.equal(unknown.status, 400);
      assert.equal((unknown.body as { error: { code: number } }).error.code, 100);
      const posted = await callApi(url, { token: TOKEN, body: { name: 'x' } });
      assert.equal(posted.status, 400);
      const listed = await callApi(`${url}?name=promo_11`, { token: TOKEN });
      assert.deepEqual(
        (listed.body as { data: { name: string }[] }).data.map((t) => t.name),
        [
          'promo_11',
          'promo_110',
          'promo_111',
          'promo_112',
          'promo_113',
          'promo_114',
          'promo_115',
          'promo_116',
          'promo_117',
          'promo_118',
          'promo_119',
        ],
      );
    });
  });
});

describe('CloudApiClient: a template list that does not answer', () => {
  let graph: MockGraph;
  let url: string;
  let clock: FakeClock;
  const clients: CloudApiClient[] = [];
  const listings = () => graph.requests.filter((r) => r.url.includes('/message_templates')).length;

  function client(timeoutMs = 15000): CloudApiClient {
    const made = new CloudApiClient({
      apiBaseUrl: url,
      apiVersion: 'v25.0',
      phoneNumberId: '107788990011223',
      accessToken: 'template-token',
      wabaId: '102290129340398',
      clock,
      timeoutMs,
    });
    clients.push(made);
    return made;
  }

  const listed =
    (category: string): Responder =>
    (req, res) =>
      json(res, 200, { data: [{ name: new URL(req.url, 'http://x').searchParams.get('name'), category }] });

  beforeEach(async () => {
    graph = new MockGraph();
    url = await graph.start();
    clock = new FakeClock();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close(0)));
    await graph.stop();
  });

  it('asks a list answering 503 once per back-off, and again at once after a success or a template change', async () => {
    graph.always(metaError(503, 2, 'Service temporarily unavailable'));
    const made = client();
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        made.templateCategory('consent_request', BACK_OFF),
        (err: unknown) => err instanceof CloudApiError,
      );
    }
    assert.equal(listings(), 1);
    clock.advance(TEMPLATE_LIST_BACKOFF_MS);
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    assert.equal(listings(), 2);
    clock.advance(TEMPLATE_LIST_BACKOFF_MS);
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    assert.equal(listings(), 2, 'the second back-off is twice as long');
    // Meta reports a template change (whatsapp-webhook): asked at once, and the answer ends the outage.
    graph.always(listed('UTILITY'));
    made.forgetTemplateCategory('consent_request');
    assert.equal(await made.templateCategory('consent_request', BACK_OFF), 'UTILITY');
    assert.equal(listings(), 3);
    graph.always(metaError(500, 1, 'An unknown error occurred'));
    await assert.rejects(made.templateCategory('offer', BACK_OFF));
    await assert.rejects(made.templateCategory('offer', BACK_OFF));
    assert.equal(listings(), 4);
    clock.advance(TEMPLATE_LIST_BACKOFF_MS);
    graph.always(listed('MARKETING'));
    assert.equal(
      await made.templateCategory('offer', BACK_OFF),
      'MARKETING',
      'the first back-off again, after the success',
    );
    assert.equal(listings(), 5);
  });

  it('keeps a failed lookup out of lastError, which tells of failed sends', async () => {
    graph.always(metaError(503, 2, 'Service temporarily unavailable'));
    const made = client();
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    assert.equal(made.stats().lastError, undefined);
    graph.always(metaError(400, 131047, 'Re-engagement message'));
    await assert.rejects(
      made.sendMessage({ messaging_product: 'whatsapp', to: '+4915112345678', type: 'text', text: { body: 'Hallo' } }),
    );
    assert.equal(made.stats().lastError?.code, 131047);
    graph.always(metaError(500, 1, 'An unknown error occurred'));
    made.forgetTemplateCategory('consent_request');
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    assert.equal(made.stats().lastError?.code, 131047, "the send's error stays the last one");
  });

  it('asks a list that times out once per back-off', async () => {
    graph.always(() => {
      // Never answered: the client's timeout ends the lookup.
    });
    const made = client(200);
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    await assert.rejects(made.templateCategory('consent_request', BACK_OFF));
    await assert.rejects(made.templateCategory('other', BACK_OFF));
    assert.equal(listings(), 1);
  });
});
