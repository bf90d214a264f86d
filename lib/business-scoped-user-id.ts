/**
 * Meta's business-scoped user id (BSUID): how WhatsApp names a person who hides their number behind a username.
 * An ISO 3166 country code, a period, "ENT." for a parent id shared across portfolios, then up to 128 letters and
 * digits, e.g. "US.13491208655302741918"
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids).
 * It is sent back exactly as received: never normalised like a number, whose digits it is not.
 */
export const BSUID_PATTERN = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

export function isBusinessScopedUserId(value: unknown): value is string {
  return typeof value === 'string' && BSUID_PATTERN.test(value);
}
