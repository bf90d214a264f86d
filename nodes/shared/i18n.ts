import { CloudApiError } from '../../lib/cloud-api/errors';
import { isRetryableRefusal } from '../../lib/cloud-api/retry';
import { GdprWhatsAppError } from '../../lib/errors';

/** npm name of this package; Node-RED names each node set's message catalog after it. */
export const PACKAGE_NAME = '@gdpr-whatsapp/node-red';

/**
 * Node-RED registers a node set's catalog (locales/<lang>/<set>.json) under the namespace
 * "<module>/<set>" (see loadNodeLocales in @node-red/registry/lib/loader.js), so for this scoped
 * package the config node's catalog is "@gdpr-whatsapp/node-red/whatsapp-config". A node's own
 * RED._('key') is prefixed with its set's namespace; keys in another set need the full
 * "<namespace>:key" form. The shared error texts live in whatsapp-config's catalog under "errors".
 */
export function catalogNamespace(nodeSet: string): string {
  return `${PACKAGE_NAME}/${nodeSet}`;
}

export const ERRORS_NAMESPACE = catalogNamespace('whatsapp-config');

/** The part of the runtime API that translates; RED satisfies it. */
export interface Translator {
  _(key: string, params?: Record<string, unknown>): string;
}

function isCodedError(err: unknown): err is GdprWhatsAppError {
  return (
    err instanceof GdprWhatsAppError ||
    (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && 'params' in err)
  );
}

/**
 * The user-facing text of an error in the runtime's language. GdprWhatsAppError codes are looked up
 * under "errors.<code>" of the shared catalog; an unknown code falls back to the English message.
 */
export function translateError(RED: Translator, err: unknown): string {
  if (isCodedError(err)) {
    const key = `errors.${err.code}`;
    const text = RED._(`${ERRORS_NAMESPACE}:${key}`, { ...err.params, ...ownTitleParam(RED, err) });
    // i18next answers a missing key with the key itself (without namespace).
    if (typeof text === 'string' && text !== '' && !text.endsWith(key)) return withoutUnfilledPlaceholders(text);
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A failure's title of ours (no answer from Meta to quote) in the runtime's language; Meta's own stay as sent. */
function ownTitleParam(RED: Translator, err: GdprWhatsAppError): { title?: string } {
  if (!(err instanceof CloudApiError) || !err.titleKey) return {};
  return { title: textOr(RED, `${ERRORS_NAMESPACE}:errors.api-titles.${err.titleKey}`, err.title) };
}

/** The text of `key` in the catalog, or `english` where no catalog has it (i18next answers the key itself). */
export function textOr(RED: Translator, key: string, english: string): string {
  const text = RED._(key);
  return typeof text === 'string' && text !== '' && !text.endsWith(key) ? text : english;
}

/**
 * Some codes are thrown with and without detail (a field name, a purpose id); a placeholder the error did not
 * fill is dropped rather than shown as "__field__".
 */
function withoutUnfilledPlaceholders(text: string): string {
  return text
    .replace(/__\w+__/g, '')
    .replace(/\(\s*\)/g, '')
    .replace(/\s+([.,:;)])/g, '$1')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

/**
 * What a node hands to done(err) so that Catch nodes show the user's language: the translated text,
 * with the i18n code kept on the error for flows that branch on it.
 */
export function catchableError(RED: Translator, err: unknown, fallbackCode = 'internal-error'): Error {
  const code = isCodedError(err) ? err.code : fallbackCode;
  return Object.assign(new Error(translateError(RED, err)), { code });
}

/** The shape of msg.error on a node's failure output. */
export interface ErrorReport {
  code: string | number;
  title: string;
  details?: string;
  retryable: boolean;
  fbtraceId?: string;
  /** The message may have arrived (it left, no answer came): never send it again. */
  deliveryUnknown?: true;
  /** Meta asked to wait this long (ms) before sending again: a rate limit of the whole account. */
  retryAfterMs?: number;
}

/** msg.error for any failure: the Cloud API's own report when there is one, else the i18n code. */
export function errorReport(RED: Translator, err: unknown): ErrorReport {
  // Only the package's own API error: an HTTP library's error serialises its request config, token included.
  if (err instanceof CloudApiError) return err.toJSON();
  const code = isCodedError(err) ? err.code : 'internal-error';
  const deliveryUnknown = (err as { deliveryUnknown?: unknown } | undefined)?.deliveryUnknown === true;
  const retryable = !deliveryUnknown && isRetryableRefusal(code);
  return { code, title: translateError(RED, err), retryable, ...(deliveryUnknown ? { deliveryUnknown } : {}) };
}
