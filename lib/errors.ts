/**
 * An error whose `code` is an i18n key under `errors.` in nodes/locales/<lang>/*.json,
 * so that nodes can show it in the user's language. `params` fill the key's placeholders
 * and must never carry a token, a key or a phone number.
 */
export class GdprWhatsAppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
    this.name = 'GdprWhatsAppError';
  }
}
