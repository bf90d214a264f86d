import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { type AccessInformation, INTEGRATOR_SERVICE } from '../lib/consent/access-information';
import { accessLetter, type LetterContext, letterFileName } from '../lib/conversation/access-letter';
import { exportAsFile, subjectFromMessage } from '../lib/conversation/dsr';
import { chooseLanguage } from '../lib/conversation/language';
import { settleNamedNumber } from '../lib/conversation/national-numbers';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf, showStoreProblems } from './consent-store';
import { catchableError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { runningNodesOfStore } from './shared/siblings';
import { statusOf } from './shared/status';

interface ExportSubjectDef extends NodeDef {
  configVersion?: number;
  store: string;
  /**
   * 'object' (msg.payload = the document), 'file' (a JSON download for an http response node) or 'letter' (the
   * document in plain words in the person's language as a text download; the document in msg.export).
   */
  output?: string;
}

export const exportSubjectMigrations: readonly Migration[] = [withDefaults({ output: 'object' })];

/**
 * The integrator that runs the WhatsApp integration for the controller, as a privacy-notice node of the same store
 * names it (its policy page lists it among the recipients): Art. 15(1)(c) GDPR asks for the same in the export.
 */
function integratorsOf(RED: NodeAPI, storeId: string): AccessInformation['recipients'] {
  const names = new Set<string>();
  for (const notice of runningNodesOfStore(RED, 'privacy-notice', storeId)) {
    const name = typeof notice.providerName === 'string' ? notice.providerName.trim() : '';
    if (name) names.add(name);
  }
  return [...names].map((name) => ({
    name,
    role: 'processor' as const,
    service: INTEGRATOR_SERVICE,
    thirdCountryTransfers: [],
  }));
}

/**
 * The controller, its data protection officer and authority and the STOP keyword, as the first running privacy-notice
 * node of the store states them on its policy page: the letter names the same.
 */
function letterContextOf(RED: NodeAPI, storeId: string): LetterContext {
  const notice = runningNodesOfStore(RED, 'privacy-notice', storeId)[0];
  if (!notice) return {};
  const text = (key: string) =>
    (typeof notice[key] === 'string' ? (notice[key] as string).trim() : undefined) || undefined;
  return {
    controller: {
      name: text('controllerName'),
      address: text('controllerAddress'),
      email: text('controllerEmail'),
      phone: text('controllerPhone'),
    },
    dpo: { name: text('dpoName'), email: text('dpoEmail') },
    authority: { name: text('authorityName'), url: text('authorityUrl') },
    stopKeyword: text('stopKeyword') ?? 'STOP',
  };
}

/** export-subject (Art. 15 access, Art. 20 portability): everything the package holds about one person, as JSON. */
export default function exportSubjectNode(RED: NodeAPI): void {
  function ExportSubject(this: Node, saved: ExportSubjectDef) {
    RED.nodes.createNode(this, saved);
    const config = migrate<ExportSubjectDef>(saved, exportSubjectMigrations);
    const store = findConsentStore(RED, config.store);
    const asFile = config.output === 'file';
    const asLetter = config.output === 'letter';
    let exported = 0;

    if (!store) {
      this.status(statusOf('broken', RED._('export-subject.status.no-store')));
    } else {
      this.status(statusOf('idle', RED._('export-subject.status.ready')));
      showStoreProblems(this, RED, store);
    }

    this.on('input', async (msg: NodeMessageInFlow, send, done) => {
      try {
        const request = subjectFromMessage(msg, store?.defaultCountry);
        const ledger = await ledgerOf(store);
        request.subject = await settleNamedNumber(ledger, request.subject, request);
        const actor = `export-subject:${this.id}:${request.origin}`;
        const language = chooseLanguage(
          (msg as { language?: unknown }).language,
          undefined,
          request.subject.phone ?? request.subject.userId,
        );
        // A request from staff about a number that changed hands must say whose part; a message is its sender's.
        const document = await ledger.exportSubject(request.subject, actor, {
          beforeNumberChange: request.beforeNumberChange,
          requireHolderChoice: request.origin === 'request',
          sentAt: request.sentAt,
          requestedBy: request.requestedBy,
          // The language of the wording an objection's record names (and of the letter): msg.language, else the
          // number's, as for answers.
          language,
        });
        // A person writing in learns nothing about her number's previous holder, not even when it moved; staff do.
        if (request.origin === 'inbound') document.numberChangedAt = undefined;
        document.information.recipients.push(...integratorsOf(RED, config.store));
        exported += 1;
        this.status(statusOf('ready', RED._('export-subject.status.exported', { count: exported })));
        if (asFile || asLetter) {
          const file = exportAsFile(document, document.pseudonym, document.exportedAt);
          const out = msg as NodeMessageInFlow & {
            filename?: string;
            headers?: Record<string, string>;
            export?: unknown;
            language?: string;
          };
          out.payload = file.payload;
          out.filename = file.filename;
          out.headers = { ...(out.headers ?? {}), ...file.headers };
          if (asLetter) {
            const filename = letterFileName(file.filename);
            out.payload = accessLetter(document, language, letterContextOf(RED, config.store));
            out.filename = filename;
            out.headers = {
              ...out.headers,
              'Content-Type': 'text/plain; charset=utf-8',
              'Content-Disposition': `attachment; filename="${filename}"`,
            };
            // The copy of the data in a machine-readable form (Art. 15(3), 20), to send with the letter.
            out.export = document;
            out.language = language;
          }
        } else {
          msg.payload = document;
        }
        send(msg);
        done();
      } catch (err) {
        const code = err instanceof GdprWhatsAppError ? err.code : 'export-failed';
        this.status(statusOf('failed', RED._('export-subject.status.failed', { code })));
        done(catchableError(RED, err, code));
      }
    });
  }

  RED.nodes.registerType('export-subject', ExportSubject, {
    settings: savedConfigSettings('export-subject', exportSubjectMigrations),
  });
}
