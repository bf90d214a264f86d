import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
  confirmationKeywordFor,
  erasureNotice,
  erasureQuestion,
  erasureReport,
  isInboundMessage,
  KEYWORD_PLACEHOLDER,
  namesKeyword,
  possibleDataRequest,
  recogniseEraseRequest,
  subjectFromMessage,
  typedText,
} from '../lib/conversation/dsr';
import { DEFAULT_ERASE_KEYWORDS, parseKeywordList } from '../lib/conversation/keywords';
import { chooseLanguage } from '../lib/conversation/language';
import { settleNamedNumber } from '../lib/conversation/national-numbers';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf, showStoreProblems } from './consent-store';
import { catchableError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { statusOf } from './shared/status';

interface EraseSubjectDef extends NodeDef {
  configVersion?: number;
  store: string;
  keywordMode?: boolean;
  keywords?: string;
  notify?: boolean;
  language?: string;
  noticeEn?: string;
  noticeDe?: string;
  questionEn?: string;
  questionDe?: string;
}

// A saved flow without keyword mode keeps working as it was wired (filtered upstream); new nodes start with it on.
const migrations: readonly Migration[] = [withDefaults({ keywordMode: false, notify: false, language: 'auto' })];

/**
 * erase-subject (Art. 17 GDPR): removes everything the package holds about one person and reports it.
 * Output 1: the report; output 2: the message that tells the person (when set); output 3: inbound
 * messages that are not an erase request (keyword mode), so the node can sit inline after whatsapp-webhook.
 */
export default function eraseSubjectNode(RED: NodeAPI): void {
  function EraseSubject(this: Node, saved: EraseSubjectDef) {
    RED.nodes.createNode(this, saved);
    const config = migrate<EraseSubjectDef>(saved, migrations);
    const store = findConsentStore(RED, config.store);
    const keywordMode = config.keywordMode === true;
    const keywords = parseKeywordList(config.keywords, DEFAULT_ERASE_KEYWORDS);
    const notify = config.notify === true;
    const noticeTexts = { en: config.noticeEn, de: config.noticeDe };
    const questionTexts = { en: config.questionEn, de: config.questionDe };
    let erased = 0;

    // The dialog refuses them; a flow written by hand still runs, asking with the default question.
    for (const [language, text] of Object.entries(questionTexts)) {
      if (typeof text === 'string' && text.trim() && !namesKeyword(text)) {
        this.warn(RED._('erase-subject.warn.question-without-keyword', { language, placeholder: KEYWORD_PLACEHOLDER }));
      }
    }

    if (!store || typeof store.getLedger !== 'function') {
      this.status(statusOf('broken', RED._('erase-subject.status.no-store')));
    } else {
      this.status(statusOf('idle', RED._('erase-subject.status.ready')));
      showStoreProblems(this, RED, store);
    }

    /**
     * "Löschen" alone may be about an order: the person is asked to send the keyword that names her data (output 2,
     * with Tell the person), or the message goes on output 3 marked msg.erase for the flow to ask. Nothing is erased.
     */
    const askFirst = (
      msg: NodeMessageInFlow,
      keyword: string,
      confirmWith: string,
      send: (msgs: (NodeMessage | null)[]) => void,
    ) => {
      const { subject } = subjectFromMessage(msg, store?.defaultCountry);
      const language = chooseLanguage(
        (msg as { language?: unknown }).language,
        config.language,
        subject.phone ?? subject.userId,
        typedText(msg),
      );
      const question = notify ? erasureQuestion(subject, language, confirmWith, questionTexts) : undefined;
      if (question) {
        // A service message about her data: no "Reply STOP to unsubscribe" under the keyword it asks for.
        send([null, { ...question, topic: 'erasure-question', optOutFooter: false } as NodeMessage, null]);
        return;
      }
      (msg as { erase?: unknown }).erase = { kind: 'confirm-first', keyword, confirmWith, language };
      send([null, null, msg]);
    };

    this.on('input', async (msg: NodeMessageInFlow, send, done) => {
      try {
        const keyword = keywordMode && isInboundMessage(msg) ? recogniseEraseRequest(msg, keywords) : undefined;
        if (keywordMode && isInboundMessage(msg) && !keyword) {
          const possible = possibleDataRequest(msg);
          if (possible) (msg as { erase?: unknown }).erase = { kind: 'possible-request', ...possible };
          send([null, null, msg]);
          done();
          return;
        }
        const confirmWith = keyword ? confirmationKeywordFor(keyword, keywords) : undefined;
        if (keyword && confirmWith) {
          askFirst(msg, keyword, confirmWith, send);
          done();
          return;
        }
        const request = subjectFromMessage(msg, store?.defaultCountry);
        const ledger = await ledgerOf(store);
        request.subject = await settleNamedNumber(ledger, request.subject, request);
        // Made before the erasure, which leaves the package no number to write to; sent only after it succeeded,
        // so a failed erasure (and Meta's retries of the request) never tells the person their data is gone.
        const recipient = request.subject.phone ?? request.subject.userId;
        const language = chooseLanguage(
          (msg as { language?: unknown }).language,
          config.language,
          recipient,
          typedText(msg),
        );
        // The previous holder of a number that moved is not at it any more: the person there now would be told.
        const previousHolder = request.beforeNumberChange === true;
        const notice = notify && !previousHolder ? erasureNotice(request.subject, language, noticeTexts) : undefined;
        const actor = `erase-subject:${this.id}:${request.origin}`;
        // A request from staff must say whose part of a number that changed hands goes; a message is its sender's.
        const options = {
          beforeNumberChange: request.beforeNumberChange,
          requireHolderChoice: request.origin === 'request',
          sentAt: request.sentAt,
          requestedBy: request.requestedBy,
        };
        const report = erasureReport(
          await ledger.eraseSubject(request.subject, actor, options),
          request.origin,
          request.requestedBy,
        );
        // Her message was delivered after her number went to someone else: he is not to be told, she is not there.
        const late = request.origin === 'inbound' && report.beforeNumberChange === true;
        if (late) this.warn(RED._('erase-subject.log.late-request'));
        // Art. 12(3): the person hears what was done. They are leaving: "Reply STOP" has nothing left to stop.
        if (notice && !late)
          send([null, { ...notice, topic: 'erasure-notice', optOutFooter: false } as NodeMessage, null]);
        if (report.found) erased += 1;
        this.status(statusOf('ready', RED._('erase-subject.status.erased', { count: erased })));
        msg.payload = report;
        // The report goes to logs and tickets: the erased person's inbound message must not travel with it.
        delete (msg as { whatsapp?: unknown }).whatsapp;
        send([msg, null, null]);
        done();
      } catch (err) {
        const code = err instanceof GdprWhatsAppError ? err.code : 'erase-failed';
        this.status(statusOf('failed', RED._('erase-subject.status.failed', { code })));
        done(catchableError(RED, err, code));
      }
    });
  }

  RED.nodes.registerType('erase-subject', EraseSubject, { settings: savedConfigSettings('erase-subject', migrations) });
}
