import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import type * as Acorn from 'acorn';
import type * as AcornWalk from 'acorn-walk';
import { appendOptOutFooter, OPT_OUT_FOOTER_TEXTS } from '../../lib/conversation/footer';
import { KEYWORD_MAX_LENGTH, overlongKeywords } from '../../lib/conversation/keywords';
import { marketingWithoutConsent, parsePurposes, purposeProblems } from '../../lib/conversation/purposes';
import { SCHEMA_NAME } from '../../lib/store/postgres';

/**
 * The built editor files, read the way the flow library's scorecard (node-red-dev) and the editor read
 * them: node-red-dev's own parser must find every type, and each node's palette entry, labels, help and
 * message catalogs must be complete in English and German.
 */

const buildDir = path.resolve(__dirname, '..', '..');
const root = path.resolve(buildDir, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const nodeSets: Record<string, string> = pkg['node-red'].nodes;
const CATEGORY = 'WhatsApp GDPR';
/** Config nodes (DESIGN.md section 2) live in the config sidebar, not the palette. */
const CONFIG_TYPES = new Set(['whatsapp-config', 'consent-store']);
const LANGUAGES = ['en-US', 'de'];

interface NodeRedDev {
  getNodeDefinitions(htmlFile: string): Record<string, Record<string, unknown>>;
  requireFromNodeRedDev(id: string): unknown;
}
const nodeRedDev: NodeRedDev = require(path.join(root, 'scripts', 'scorecard', 'node-red-dev.js'));
const acorn = nodeRedDev.requireFromNodeRedDev('acorn') as typeof Acorn;
const walk = nodeRedDev.requireFromNodeRedDev('acorn-walk') as typeof AcornWalk;

/** Where Node-RED loads a set's editor files from: beside the compiled node file. */
function builtFile(set: string, ...parts: string[]): string {
  const js = nodeSets[set].replace(/^dist\//, '');
  return path.join(buildDir, path.dirname(js), ...parts);
}

/** The <script type="text/javascript"> blocks, matched like node-red-dev does. */
function editorScripts(html: string): string[] {
  return [...html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi)].map((m) => m[1]);
}

/** A stand-in for anything the editor provides (jQuery, RED.validators...): every access and call succeeds. */
function tolerant(): unknown {
  const proxy: unknown = new Proxy(() => undefined, {
    get: (_target, key) => (key === Symbol.toPrimitive ? () => '' : proxy),
    apply: () => proxy,
  });
  return proxy;
}

type Definition = Record<string, unknown> & { defaults?: Record<string, { value?: unknown }> };

/** RED._ as the editor has it in `lang`, for this package's keys ('<module>/<set>:key'); other keys stay as they are. */
function translator(lang: string): (key: string, params?: Record<string, unknown>) => string {
  return (key, params = {}) => {
    const colon = key.indexOf(':');
    if (colon < 0 || !key.startsWith(`${pkg.name}/`)) return key;
    const set = key.slice(pkg.name.length + 1, colon);
    const catalog = JSON.parse(fs.readFileSync(builtFile(set, 'locales', lang, `${set}.json`), 'utf8'));
    const text = key
      .slice(colon + 1)
      .split('.')
      .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], catalog);
    return typeof text === 'string' ? text.replace(/__(\w+)__/g, (_, name) => String(params[name])) : key;
  };
}

/**
 * Runs the editor scripts against a stub RED and returns the definitions they register. resources/editor.js, which
 * Node-RED loads before them, runs first. `translate` stands in for RED._ (by default it returns the key).
 */
function registeredDefinitions(
  html: string,
  translate: (key: string, params?: Record<string, unknown>) => string = (key) => key,
): Map<string, Definition> {
  const registered = new Map<string, Definition>();
  const withFallback = (target: Record<string, unknown>) =>
    new Proxy(target, { get: (t, key) => (key in t ? t[key as string] : tolerant()) });
  const RED = withFallback({
    nodes: withFallback({ registerType: (type: string, def: Definition) => registered.set(type, def) }),
    _: translate,
  });
  const helpers: Record<string, unknown> = {};
  vm.runInNewContext(fs.readFileSync(path.join(root, 'resources', 'editor.js'), 'utf8'), {
    window: helpers,
    RED,
    $: tolerant(),
  });
  const context = vm.createContext({
    RED,
    $: tolerant(),
    jQuery: tolerant(),
    window: tolerant(),
    document: tolerant(),
    WhatsAppGdprEditor: helpers.WhatsAppGdprEditor,
  });
  for (const script of editorScripts(html)) vm.runInContext(script, context);
  return registered;
}

/** The object literal passed to registerType(type, {...}) in the editor scripts. */
function definitionNode(html: string, type: string): Acorn.ObjectExpression | undefined {
  let found: Acorn.ObjectExpression | undefined;
  for (const script of editorScripts(html)) {
    walk.simple(acorn.parse(script, { ecmaVersion: 'latest' }), {
      CallExpression(call) {
        const callee = call.callee;
        const [name, def] = call.arguments;
        if (
          callee.type === 'MemberExpression' &&
          callee.property.type === 'Identifier' &&
          callee.property.name === 'registerType' &&
          name?.type === 'Literal' &&
          name.value === type &&
          def?.type === 'ObjectExpression'
        ) {
          found = def;
        }
      },
    });
  }
  return found;
}

function property(def: Acorn.ObjectExpression, name: string): Acorn.Property | undefined {
  return def.properties.find(
    (p): p is Acorn.Property => p.type === 'Property' && p.key.type === 'Identifier' && p.key.name === name,
  );
}

/** Lengths of `[...][index]` lists inside an outputLabels function (index = its first parameter). */
function indexedListLengths(fn: Acorn.Function): number[] {
  const param = fn.params[0];
  if (param?.type !== 'Identifier') return [];
  const lengths: number[] = [];
  walk.simple(fn.body, {
    MemberExpression(member) {
      if (
        member.computed &&
        member.object.type === 'ArrayExpression' &&
        member.property.type === 'Identifier' &&
        member.property.name === param.name
      ) {
        lengths.push(member.object.elements.length);
      }
    },
  });
  return lengths;
}

/** A message catalog flattened to its dotted leaf keys. */
function catalogKeys(file: string): Set<string> {
  const keys = new Set<string>();
  const visit = (value: unknown, prefix: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) visit(child, prefix ? `${prefix}.${key}` : key);
    } else {
      keys.add(prefix);
    }
  };
  visit(JSON.parse(fs.readFileSync(file, 'utf8')), '');
  return keys;
}

/** Keys named in the editor file: data-i18n attributes, literal _('...') calls and '<module>/<set>:key' strings. */
function referencedKeys(html: string, set: string): { exact: Map<string, string[]>; prefixes: Map<string, string[]> } {
  const exact = new Map<string, string[]>();
  const prefixes = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, ns: string, key: string) => map.set(ns, [...(map.get(ns) ?? []), key]);
  const namespaced = (value: string, fallbackSet: string | undefined) => {
    const colon = value.indexOf(':');
    if (colon < 0) return fallbackSet ? { ns: fallbackSet, key: value } : undefined;
    const ns = value.slice(0, colon);
    return ns.startsWith(`${pkg.name}/`)
      ? { ns: ns.slice(pkg.name.length + 1), key: value.slice(colon + 1) }
      : undefined;
  };
  for (const [, attribute] of html.matchAll(/data-i18n="([^"]+)"/g)) {
    for (const part of attribute.split(';')) {
      const ref = namespaced(part.replace(/^\[[^\]]*\]/, ''), set);
      if (ref) add(exact, ref.ns, ref.key);
    }
  }
  for (const script of editorScripts(html)) {
    walk.simple(acorn.parse(script, { ecmaVersion: 'latest' }), {
      CallExpression(call) {
        const callee = call.callee;
        const named =
          (callee.type === 'MemberExpression' &&
            callee.property.type === 'Identifier' &&
            callee.property.name === '_') ||
          (callee.type === 'Identifier' && callee.name === '_');
        const [first] = call.arguments;
        if (named && first?.type === 'Literal' && typeof first.value === 'string') {
          const ref = namespaced(first.value, set);
          if (ref) add(exact, ref.ns, ref.key);
        }
      },
      Literal(literal) {
        if (typeof literal.value !== 'string' || !literal.value.startsWith(`${pkg.name}/`)) return;
        const ref = namespaced(literal.value, undefined);
        // 'ns:a.b.' + variable: the literal is the start of a key; else a whole key handed to a helper.
        if (ref && /[.\-_]$/.test(ref.key)) add(prefixes, ref.ns, ref.key);
        else if (ref) add(exact, ref.ns, ref.key);
      },
    });
  }
  return { exact, prefixes };
}

/** i18next resolves count-dependent keys through plural suffixes. */
function catalogHas(keys: Set<string>, key: string): boolean {
  return keys.has(key) || keys.has(`${key}_one`) || keys.has(`${key}_other`) || keys.has(`${key}_plural`);
}

describe('editor HTML as the scorecard and the editor read it', () => {
  it('lists node sets in package.json', () => {
    assert.ok(Object.keys(nodeSets).length > 0);
  });

  for (const type of Object.keys(nodeSets)) {
    describe(type, () => {
      const htmlFile = builtFile(type, `${type}.html`);
      const html = () => fs.readFileSync(htmlFile, 'utf8');
      const isConfig = CONFIG_TYPES.has(type);

      it(`declares RED.nodes.registerType('${type}', {...}) inline where node-red-dev's parser finds it`, () => {
        assert.ok(fs.existsSync(htmlFile), `${path.relative(root, htmlFile)} is missing`);
        const defs = nodeRedDev.getNodeDefinitions(htmlFile);
        assert.ok(defs[type], `node-red-dev found ${Object.keys(defs).join(', ') || 'no types'}, not ${type}`);
      });

      it(isConfig ? 'is a config node' : `sits in the "${CATEGORY}" palette with a colour and an icon`, () => {
        const def = nodeRedDev.getNodeDefinitions(htmlFile)[type];
        assert.equal(def.category, isConfig ? 'config' : CATEGORY);
        if (!isConfig) {
          assert.match(String(def.color ?? ''), /^#[0-9a-f]{3}([0-9a-f]{3})?$/i, 'color must be an inline hex literal');
          assert.ok(def.icon, 'icon must be an inline string literal');
        }
        if (def.icon) {
          for (const dir of [path.join(root, 'icons'), builtFile(type, 'icons')]) {
            assert.ok(
              fs.existsSync(path.join(dir, String(def.icon))),
              `${def.icon} missing in ${path.relative(root, dir)}`,
            );
          }
        }
      });

      it('declares every validator with two parameters, so that the editor shows the message it returns', () => {
        // Node-RED shows a returned message only for a validator of two parameters (its 3.x form); it takes any text
        // a validator of one returns for valid, and the field stays unmarked.
        const def = registeredDefinitions(html()).get(type) as Definition & { credentials?: Definition['defaults'] };
        for (const [property, spec] of Object.entries({ ...def?.defaults, ...def?.credentials })) {
          const validate = (spec as { validate?: unknown }).validate;
          if (typeof validate === 'function') assert.equal(validate.length, 2, `${type}.${property}`);
        }
      });

      it('has a palette label and a label function that give text', () => {
        const def = registeredDefinitions(html()).get(type);
        assert.ok(def, `the editor script registers no ${type} when run`);
        const node = {
          ...Object.fromEntries(Object.entries(def.defaults ?? {}).map(([key, spec]) => [key, spec.value])),
          _: (key: string) => key,
        };
        const text = (value: unknown) => (typeof value === 'function' ? value.call(node) : value);
        assert.ok(def.paletteLabel !== undefined, 'paletteLabel missing');
        assert.equal(typeof def.label, 'function', 'label must be a function (it shows the important setting)');
        for (const name of ['paletteLabel', 'label']) {
          const value = text(def[name]);
          assert.ok(typeof value === 'string' && value.trim(), `${name} gives ${JSON.stringify(value)}`);
        }
      });

      it('labels every output', () => {
        const def = registeredDefinitions(html()).get(type);
        assert.ok(def);
        const outputs = Number(def.outputs ?? 0);
        if (isConfig || outputs === 0) {
          assert.equal(def.outputLabels, undefined, 'a node without outputs has no output labels');
          return;
        }
        const labels = def.outputLabels;
        if (Array.isArray(labels)) {
          assert.equal(labels.length, outputs, `${labels.length} output labels for ${outputs} outputs`);
        } else {
          assert.equal(typeof labels, 'function', 'outputLabels missing');
          const defNode = definitionNode(html(), type);
          assert.ok(defNode, `no inline registerType('${type}', {...})`);
          const fnNode = property(defNode, 'outputLabels')?.value as Acorn.Function;
          for (const length of indexedListLengths(fnNode)) {
            assert.equal(length, outputs, `outputLabels lists ${length} labels for ${outputs} outputs`);
          }
        }
        const node = { _: (key: string) => key };
        for (let index = 0; index < outputs; index++) {
          const label = Array.isArray(labels) ? labels[index] : (labels as (i: number) => unknown).call(node, index);
          assert.ok(typeof label === 'string' && label.trim(), `output ${index + 1} has no label`);
        }
      });

      for (const lang of LANGUAGES) {
        it(`has sidebar help in ${lang}`, () => {
          const help = builtFile(type, 'locales', lang, `${type}.html`);
          assert.ok(fs.existsSync(help), `${path.relative(root, help)} is missing`);
          assert.match(
            fs.readFileSync(help, 'utf8'),
            new RegExp(`<script type="text/html" data-help-name="${type}">`),
            'help must be a <script type="text/html" data-help-name="<type>"> block',
          );
        });
      }

      it('has en-US and de message catalogs with the same keys', () => {
        const files = LANGUAGES.map((lang) => builtFile(type, 'locales', lang, `${type}.json`));
        const missingFiles = files.filter((f) => !fs.existsSync(f)).map((f) => path.relative(root, f));
        assert.deepEqual(missingFiles, [], 'message catalogs missing');
        const [en, de] = files.map(catalogKeys);
        const differences = [
          ...[...en].filter((k) => !de.has(k)).map((k) => `de lacks ${k}`),
          ...[...de].filter((k) => !en.has(k)).map((k) => `en-US lacks ${k}`),
        ];
        assert.deepEqual(differences, [], `${type}.json key sets differ`);
      });

      it('uses only message keys its catalogs define', () => {
        const { exact, prefixes } = referencedKeys(html(), type);
        const problems: string[] = [];
        for (const lang of LANGUAGES) {
          for (const [ns, keys] of exact) {
            if (!nodeSets[ns]) {
              problems.push(`no node set ${ns} for keys ${keys.join(', ')}`);
              continue;
            }
            const file = builtFile(ns, 'locales', lang, `${ns}.json`);
            const known = fs.existsSync(file) ? catalogKeys(file) : new Set<string>();
            for (const key of new Set(keys))
              if (!catalogHas(known, key)) problems.push(`${lang}/${ns}.json lacks ${key}`);
          }
          for (const [ns, starts] of prefixes) {
            if (!nodeSets[ns]) {
              problems.push(`no node set ${ns} for keys ${starts.join(', ')}`);
              continue;
            }
            const file = builtFile(ns, 'locales', lang, `${ns}.json`);
            const known = fs.existsSync(file) ? [...catalogKeys(file)] : [];
            for (const start of new Set(starts)) {
              if (!known.some((k) => k.startsWith(start)))
                problems.push(`${lang}/${ns}.json has no key under ${start}`);
            }
          }
        }
        assert.deepEqual(problems, []);
      });

      it('names each confirmation question by its full key, so that the check above covers it', () => {
        // A key built at run time ('...confirm.replace-' + field) is invisible to the check: a renamed or missing
        // entry would show the user the bare key in the question that guards replacing a deployed key.
        const catalog = catalogKeys(builtFile(type, 'locales', 'en-US', `${type}.json`));
        const questions = [...catalog].filter((key) => key.startsWith(`${type}.confirm.`));
        const named = new Set(referencedKeys(html(), type).exact.get(type) ?? []);
        assert.deepEqual(
          questions.filter((key) => !named.has(key)),
          [],
          'catalog questions the editor file does not name literally',
        );
      });
    });
  }
});

describe('editor validation as the runtime has it', () => {
  it("consent-store's PostgreSQL schema field accepts exactly the names the store accepts", () => {
    const def = registeredDefinitions(fs.readFileSync(builtFile('consent-store', 'consent-store.html'), 'utf8')).get(
      'consent-store',
    );
    const validate = (def?.defaults?.postgresSchema as { validate?: (v: string) => unknown })?.validate;
    assert.ok(validate, 'the field has a validator');
    for (const name of ['whatsapp', 'wa_gdpr_2', '_x', 'WhatsApp', 'Ledger', '1abc', 'a-b', 'x'.repeat(64)]) {
      assert.equal(validate(name) === true, SCHEMA_NAME.test(name), name);
    }
    assert.equal(validate(''), true, 'empty: the default schema');
  });

  it("consent-store's purpose list refuses a marketing purpose without consent, of which the runtime warns", () => {
    const def = registeredDefinitions(fs.readFileSync(builtFile('consent-store', 'consent-store.html'), 'utf8')).get(
      'consent-store',
    );
    const validate = (def?.defaults?.purposes as { validate?: (v: unknown) => unknown })?.validate;
    assert.ok(validate, 'the field has a validator');
    const purpose = { id: 'promo', label: 'Offers', wording: { en: 'Offers on WhatsApp' }, marketing: true };
    const interest = { interest: { en: 'Telling customers about similar products' } };
    for (const candidate of [
      { ...purpose, lawfulBasis: 'consent' },
      { ...purpose, lawfulBasis: 'contract' },
      { ...purpose, lawfulBasis: 'legitimate-interest', ...interest },
      { ...purpose, marketing: false, lawfulBasis: 'legitimate-interest', ...interest },
    ]) {
      const accepted =
        purposeProblems([candidate]).length === 0 && !marketingWithoutConsent(parsePurposes([candidate])[0]);
      assert.equal(validate([candidate]) === true, accepted, JSON.stringify(candidate));
    }
    assert.notEqual(validate([{ ...purpose, lawfulBasis: 'contract' }]), true);
  });

  it("stop-handler's keyword lists refuse exactly the keywords the runtime leaves out for their length", () => {
    const def = registeredDefinitions(fs.readFileSync(builtFile('stop-handler', 'stop-handler.html'), 'utf8')).get(
      'stop-handler',
    );
    const atLimit = `${'ab '.repeat(66)}ab`;
    for (const field of ['keywords', 'helpKeywords']) {
      const validate = (def?.defaults?.[field] as { validate?: (v: string) => unknown })?.validate;
      assert.ok(validate, `${field} has a validator`);
      for (const list of [
        '',
        'STOP, HALT',
        `STOP\n${atLimit}`,
        `STOP\n${atLimit}c`,
        `${'x'.repeat(KEYWORD_MAX_LENGTH)}!!!`,
        'x'.repeat(KEYWORD_MAX_LENGTH + 1),
        '\uFDFA'.repeat(11),
        '\uFDFA'.repeat(12),
      ]) {
        assert.equal(validate(list) === true, overlongKeywords(list).length === 0, `${field}: ${list}`);
      }
    }
  });
  it('says why a text too long to send is refused, in English and German, where imported flows can hold one', () => {
    // The dialogs' fields stop at the limit; an imported or hand-written flow does not.
    const texts: [string, string[], number][] = [
      ['stop-handler', ['confirmationEn', 'confirmationDe', 'helpEn', 'helpDe'], 4096],
      ['opt-in-flow', ['confirmedTextEn', 'confirmedTextDe', 'expiredTextEn', 'expiredTextDe'], 4096],
      ['opt-in-flow', ['subscribedTextEn', 'subscribedTextDe', 'refusedTextEn', 'refusedTextDe'], 4096],
      ['opt-in-flow', ['unclearTextEn', 'unclearTextDe', 'alreadyTextEn', 'alreadyTextDe'], 4096],
      ['opt-in-flow', ['confirmationTextEn', 'confirmationTextDe'], 1024],
      ['erase-subject', ['noticeEn', 'noticeDe'], 4096],
      ['privacy-notice', ['noticeEn', 'noticeDe'], 4096],
    ];
    const said: Record<string, (max: number) => string> = {
      'en-US': (max) => `At most ${max} characters`,
      de: (max) => `Höchstens ${max} Zeichen`,
    };
    for (const lang of LANGUAGES) {
      for (const [type, fields, max] of texts) {
        const html = fs.readFileSync(builtFile(type, `${type}.html`), 'utf8');
        const def = registeredDefinitions(html, translator(lang)).get(type);
        for (const field of fields) {
          const validate = (def?.defaults?.[field] as { validate?: (v: unknown) => unknown })?.validate;
          assert.ok(validate, `${type}.${field} has a validator`);
          assert.equal(validate(undefined), true, `${type}.${field}: missing`);
          assert.equal(validate('x'.repeat(max)), true, `${type}.${field}: ${max} characters`);
          assert.equal(
            validate('x'.repeat(max + 1)),
            said[lang](max),
            `${lang} ${type}.${field}: ${max + 1} characters`,
          );
        }
      }
    }
  });

  it('refuses an erasure question that does not say which keyword to send, or is too long, in English and German', () => {
    const said: Record<string, string> = {
      'en-US': 'Write {keyword} where the keyword to send goes; at most 1024 characters',
      de: 'Schreiben Sie {keyword} dort, wo das zu sendende Stichwort steht; höchstens 1024 Zeichen',
    };
    for (const lang of LANGUAGES) {
      const html = fs.readFileSync(builtFile('erase-subject', 'erase-subject.html'), 'utf8');
      const def = registeredDefinitions(html, translator(lang)).get('erase-subject');
      for (const field of ['questionEn', 'questionDe']) {
        const validate = (def?.defaults?.[field] as { validate?: (v: unknown) => unknown })?.validate;
        assert.ok(validate, `${field} has a validator`);
        for (const empty of [undefined, '', '  '])
          assert.equal(validate(empty), true, `${field}: empty is the default`);
        const fits = `Wirklich? ${'x'.repeat(1024 - 20)} {keyword}`;
        assert.equal(fits.length, 1024);
        assert.equal(validate(fits), true, `${field}: 1024 characters with the placeholder`);
        assert.equal(validate(`${fits}.`), said[lang], `${lang} ${field}: 1025 characters`);
        assert.equal(validate('Really delete everything?'), said[lang], `${lang} ${field}: no placeholder`);
      }
    }
  });
});

describe('help texts as the runtime has it', () => {
  it("whatsapp-send's help says a carousel gets the opt-out line at the end of its body, as the footer code does", () => {
    const card = (i: number) => ({
      card_index: i,
      header: { type: 'image', image: { id: String(i) } },
      action: { name: 'cta_url', parameters: { display_text: 'Shop', url: `https://shop.example/${i}` } },
    });
    const carousel = {
      type: 'interactive',
      interactive: { type: 'carousel', body: { text: 'Neu' }, action: { cards: [card(0), card(1)] } },
    };
    const sent = appendOptOutFooter(carousel, 'en');
    assert.equal(sent.interactive.body.text, `Neu\n\n${OPT_OUT_FOOTER_TEXTS.en}`);
    const says: Record<string, { mentions: RegExp; denies: RegExp }> = {
      'en-US': { mentions: /carousel/i, denies: /carousels? (?:take|get|ha(?:s|ve)) (?:neither|none|no)\b/i },
      de: {
        mentions: /Karussell/,
        denies: /Karussells? (?:nehmen|nimmt|bekomm\w*|erhält|erhalten) (?:beides nicht|keine)/,
      },
    };
    for (const lang of LANGUAGES) {
      const help = fs.readFileSync(builtFile('whatsapp-send', 'locales', lang, 'whatsapp-send.html'), 'utf8');
      const optOut = help.split('<p>').find((p) => /<i>(?:Opt-out|Abmeldehinweis)<\/i>/.test(p));
      assert.ok(optOut, `${lang}: the opt-out paragraph`);
      const text = optOut.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');
      assert.match(text, says[lang].mentions, `${lang} names carousels`);
      assert.doesNotMatch(text, says[lang].denies, `${lang} says carousels get no line: ${text}`);
    }
  });
});
