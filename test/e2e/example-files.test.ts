import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

/**
 * The example files as Node-RED's Import menu reads them. The editor keeps only the properties a node type
 * declares in its `defaults` (anything else is dropped on the next deploy), so every property an example sets
 * must be one of them; and the examples must be deployable side by side.
 */
const BUILD_DIR = path.resolve(__dirname, '..', '..');
const REPO_DIR = path.resolve(BUILD_DIR, '..');
const EXAMPLES_DIR = path.join(REPO_DIR, 'examples');

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };
type Definition = { defaults?: Record<string, unknown>; credentials?: Record<string, unknown>; outputs?: number };

/** Runs the built editor scripts against a stub RED and returns the registered definitions. */
function editorDefinitions(): Map<string, Definition> {
  const registered = new Map<string, Definition>();
  const tolerant = (): unknown => {
    const proxy: unknown = new Proxy(() => undefined, {
      get: (_target, key) => (key === Symbol.toPrimitive ? () => '' : proxy),
      apply: () => proxy,
    });
    return proxy;
  };
  const withFallback = (target: Record<string, unknown>) =>
    new Proxy(target, { get: (t, key) => (key in t ? t[key as string] : tolerant()) });
  const RED = withFallback({
    nodes: withFallback({ registerType: (type: string, def: Definition) => registered.set(type, def) }),
    _: (key: string) => key,
  });
  // resources/editor.js, which Node-RED loads before the dialogs' scripts, runs first.
  const helpers: Record<string, unknown> = {};
  vm.runInNewContext(fs.readFileSync(path.join(REPO_DIR, 'resources', 'editor.js'), 'utf8'), {
    window: helpers,
    RED,
    $: tolerant(),
  });
  const nodesDir = path.join(BUILD_DIR, 'nodes');
  for (const file of fs.readdirSync(nodesDir).filter((f) => f.endsWith('.html'))) {
    const html = fs.readFileSync(path.join(nodesDir, file), 'utf8');
    const context = vm.createContext({
      RED,
      $: tolerant(),
      jQuery: tolerant(),
      window: tolerant(),
      document: tolerant(),
      WhatsAppGdprEditor: helpers.WhatsAppGdprEditor,
    });
    for (const [, script] of html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi)) {
      vm.runInContext(script, context);
    }
  }
  return registered;
}

/** Properties every node has in an export, whatever its type. */
const COMMON = new Set(['id', 'type', 'z', 'x', 'y', 'wires', 'g']);

describe('example files', () => {
  const files = fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const examples = files.map((file) => ({
    file,
    nodes: JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8')) as FlowNode[],
  }));
  const definitions = editorDefinitions();

  it('are the ten examples of issue 5, each opening with a comment in English and German', () => {
    assert.deepEqual(
      files.map((f) => f.slice(0, 3)),
      ['01-', '02-', '03-', '04-', '05-', '06-', '07-', '08-', '09-', '10-'],
    );
    assert.equal(files[0], '01-double-opt-in-web-form.json');
    assert.equal(files[9], '10-complete-bot.json');
    for (const { file, nodes } of examples) {
      assert.ok(Array.isArray(nodes), file);
      const [about] = nodes;
      assert.equal(about.type, 'comment', file);
      assert.match(String(about.info), /\*\*English\.\*\*[\s\S]+\*\*Deutsch\.\*\*/, file);
      assert.match(String(about.name), / \/ /, `${file}: the title in both languages`);
    }
  });

  it("ask for marketing consent in words that name the business, the same on the form as in the store's proof", () => {
    // WhatsApp's opt-in policy: the opt-in names the business and says what messages follow; § 7(2) UWG and Art. 4(11)
    // GDPR: an informed consent knows whose advertising it lets in. The examples' business, as their notices name it.
    const business = 'Beispiel Shop';
    for (const { file, nodes } of examples) {
      const wordings = nodes
        .filter((n) => n.type === 'consent-store')
        .flatMap((n) => n.purposes as { marketing?: boolean; wording: Record<string, string> }[])
        .filter((purpose) => purpose.marketing === true)
        .map((purpose) => purpose.wording);
      for (const wording of wordings) {
        for (const [language, text] of Object.entries(wording)) {
          assert.ok(text.includes(business), `${file} (${language}): ${text}`);
          assert.match(text, /WhatsApp/, `${file} (${language})`);
        }
      }
      const tab = nodes.find((n) => n.type === 'tab') as { env?: { name: string; value: string }[] };
      for (const { name, value } of tab.env ?? []) {
        const language = name.match(/^WORDING_([A-Z]{2})$/)?.[1]?.toLowerCase();
        if (!language) continue;
        assert.ok(
          wordings.some((wording) => wording[language] === value),
          `${file}: the form's ${name} is the store's wording`,
        );
      }
    }
  });

  it('deploy side by side: unique ids, one tab each, distinct HTTP paths', () => {
    const ids = new Set<string>();
    const routes = new Map<string, string>();
    for (const { file, nodes } of examples) {
      const tabs = nodes.filter((n) => n.type === 'tab');
      assert.equal(tabs.length, 1, file);
      for (const node of nodes) {
        assert.ok(!ids.has(node.id), `${file}: id ${node.id} is used twice`);
        assert.ok(!definitions.has(node.id) && node.id !== node.type, `${file}: an id equal to a type name`);
        ids.add(node.id);
        const isConfig = node.type === 'whatsapp-config' || node.type === 'consent-store';
        if (node.type !== 'tab' && !isConfig) assert.equal(node.z, tabs[0].id, `${file}: ${node.type} on its tab`);
        const route =
          node.type === 'http in'
            ? `${node.method} ${node.url}`
            : node.type === 'whatsapp-webhook'
              ? `webhook ${node.path}`
              : node.type === 'privacy-notice' && node.servePage
                ? `get ${node.pagePath}`
                : undefined;
        if (route) {
          assert.ok(!routes.has(route), `${file}: ${route} is also in ${routes.get(route)}`);
          routes.set(route, file);
        }
      }
    }
  });

  it('set only properties the editor keeps, wire every output of our nodes and point at their own config', () => {
    for (const { file, nodes } of examples) {
      const byId = new Map(nodes.map((n) => [n.id, n]));
      for (const node of nodes) {
        assert.equal(node.credentials, undefined, `${file}: no credentials in an example`);
        for (const target of (node.wires ?? []).flat()) assert.ok(byId.has(target), `${file}: wire to ${target}`);
        const definition = definitions.get(node.type);
        if (!definition) continue;
        for (const key of Object.keys(node)) {
          assert.ok(
            COMMON.has(key) || key in (definition.defaults ?? {}),
            `${file}: ${node.type}.${key} would be lost`,
          );
        }
        if (typeof definition.outputs === 'number') {
          assert.equal(node.wires?.length ?? 0, definition.outputs, `${file}: ${node.type} ${node.id} outputs`);
        }
        for (const [property, type] of [
          ['whatsapp', 'whatsapp-config'],
          ['store', 'consent-store'],
        ]) {
          if (property in node) assert.equal(byId.get(String(node[property]))?.type, type, `${file}: ${node.id}`);
        }
      }
      for (const config of nodes.filter((n) => n.type === 'whatsapp-config')) {
        assert.equal(config.mode, 'sandbox', `${file}: runs against the sandbox as imported`);
      }
      for (const store of nodes.filter((n) => n.type === 'consent-store')) {
        assert.equal(store.backend, 'sqlite', file);
      }
    }
  });
});
