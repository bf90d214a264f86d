import assert from 'node:assert/strict';
import { RealNodeRed } from '../helpers/real-node-red';

/**
 * A deployment may guard every node route with httpNodeMiddleware (an IP allow-list, a login, headers of its own).
 * Node-RED's `http in` takes one function or an array of them; the policy page must run behind either, in a real
 * Node-RED, where settings.js is read as users write it.
 */
const GATE = `function (req, res, next) {
  if (req.get('x-allowed') === 'yes') { res.set('X-Gate', 'passed'); next(); }
  else res.status(403).type('text/plain').send('gate closed');
}`;

function policyFlow(): Record<string, unknown>[] {
  return [
    { id: 'tab1', type: 'tab', label: 'Notice' },
    {
      id: 'notice1',
      z: 'tab1',
      type: 'privacy-notice',
      store: '',
      controllerName: 'Example Shop GmbH',
      controllerEmail: 'datenschutz@shop.example',
      storageLocation: 'Deutschland',
      policyUrl: 'https://shop.example/privacy',
      pagePath: '/privacy',
      configVersion: 1,
      wires: [[]],
    },
  ];
}

for (const [form, setting] of [
  ['one function', GATE],
  ['an array', `[${GATE}]`],
] as const) {
  describe(`privacy-notice behind httpNodeMiddleware given as ${form} (real Node-RED)`, function () {
    this.timeout(60000);
    let red: RealNodeRed;

    before(async () => {
      red = await RealNodeRed.start({
        types: ['consent-store', 'privacy-notice'],
        settingsOverrides: `{ httpNodeMiddleware: ${setting} }`,
      });
      await red.deploy(policyFlow());
    });

    after(async () => {
      await red?.stop();
    });

    it('serves the policy page only to requests the middleware lets through', async () => {
      const refused = await fetch(`${red.url}/privacy`);
      assert.equal(refused.status, 403);
      assert.equal(await refused.text(), 'gate closed');
      const allowed = await fetch(`${red.url}/privacy`, { headers: { 'x-allowed': 'yes' } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('x-gate'), 'passed');
      assert.match(await allowed.text(), /Example Shop GmbH/);
    });
  });
}
