import assert from 'node:assert/strict';
import { OptInTemplateWatch } from '../../../lib/conversation/opt-in-template';

describe('OptInTemplateWatch: the opt-in confirmation template should be UTILITY', () => {
  const answering = (category: string | null) => async () => category;

  it('reports a MARKETING template, asking for a warning the first time only', async () => {
    const watch = new OptInTemplateWatch();
    assert.deepEqual(await watch.check('consent_request', answering('MARKETING')), {
      template: 'consent_request',
      marketing: true,
      warn: true,
    });
    assert.deepEqual(await watch.check('consent_request', answering('MARKETING')), {
      template: 'consent_request',
      marketing: true,
      warn: false,
    });
    assert.deepEqual(watch.flagged(), ['consent_request']);
  });

  it('clears a template Meta made UTILITY, and warns again when it turns MARKETING once more', async () => {
    const watch = new OptInTemplateWatch();
    await watch.check('consent_request', answering('MARKETING'));
    assert.deepEqual(await watch.check('consent_request', answering('UTILITY')), {
      template: 'consent_request',
      marketing: false,
    });
    assert.deepEqual(watch.flagged(), []);
    const again = await watch.check('consent_request', answering('MARKETING'));
    assert.equal('warn' in again && again.warn, true);
  });

  it('takes UTILITY, AUTHENTICATION and an unlisted template as nothing to warn about', async () => {
    const watch = new OptInTemplateWatch();
    for (const category of ['UTILITY', 'AUTHENTICATION', null]) {
      assert.deepEqual(await watch.check('consent_request', answering(category)), {
        template: 'consent_request',
        marketing: false,
      });
    }
    assert.deepEqual(watch.flagged(), []);
  });

  it('never throws when the template list fails, and keeps what it knew', async () => {
    const watch = new OptInTemplateWatch();
    await watch.check('consent_request', answering('MARKETING'));
    const down = new Error('503 Service Unavailable');
    const finding = await watch.check('consent_request', () => Promise.reject(down));
    assert.equal('unknown' in finding && finding.unknown, true);
    assert.deepEqual(watch.flagged(), ['consent_request']);
  });

  it('tells a failing template list once, and again only after a lookup succeeded', async () => {
    const watch = new OptInTemplateWatch();
    const down = () => Promise.reject(new Error('503 Service Unavailable'));
    const warned = async (categoryOf: (name: string) => Promise<string | null>) => {
      const finding = await watch.check('consent_request', categoryOf);
      return 'unknown' in finding && finding.warn;
    };
    assert.deepEqual([await warned(down), await warned(down), await warned(down)], [true, false, false]);
    await watch.check('consent_request', answering('UTILITY'));
    assert.equal(await warned(down), true);
  });
});
