import { CloudApiError, NO_API_CODE } from '../cloud-api/errors';
import type { OutgoingMessageBody } from '../cloud-api/message-types';
import { MARKETING } from '../cloud-api/template-categories';
import { GdprWhatsAppError } from '../errors';

/**
 * Advertising by electronic message needs the recipient's prior express consent (§ 7(2) Nr. 2 UWG, and Art. 6(1)(a)
 * GDPR for the processing), whatever basis the purpose it is sent under names. Meta itself judges whether a template
 * advertises: its MARKETING category. A template sent under a contract or a legitimate interest, or past every
 * consent-gate, is therefore looked up, and a marketing one is refused before it leaves.
 */
export interface TemplateSendContext {
  /** The message passed a consent-gate whose purpose rests on consent (checked again when it leaves the queue). */
  consentBased: boolean;
  /** opt-in-flow's request to confirm a consent: it asks for the consent and advertises nothing. */
  optInRequest: boolean;
}

export async function assertTemplateMayGo(
  body: OutgoingMessageBody,
  context: TemplateSendContext,
  categoryOf: (name: string) => Promise<string | null>,
): Promise<void> {
  const name = templateName(body);
  if (name === undefined || context.consentBased || context.optInRequest) return;
  let category: string | null;
  try {
    category = await categoryOf(name);
  } catch (err) {
    throw checkFailed(name, err);
  }
  if (category === null) {
    // Meta refuses a template it does not know (132001); an unlisted one cannot be shown not to advertise.
    throw new GdprWhatsAppError(
      'template-not-listed',
      `The WhatsApp Business Account lists no template named ${name}, so its category cannot be checked: nothing was sent`,
      { template: name },
    );
  }
  if (category === MARKETING) {
    throw new GdprWhatsAppError(
      'marketing-template-needs-consent',
      `${name} is a marketing template: advertising over WhatsApp needs the person's consent, so send it through a consent-gate whose purpose rests on consent`,
      { template: name },
    );
  }
}

function templateName(body: OutgoingMessageBody): string | undefined {
  const { type, template } = body as { type?: unknown; template?: { name?: unknown } };
  return type === 'template' && typeof template?.name === 'string' ? template.name : undefined;
}

function checkFailed(name: string, err: unknown): GdprWhatsAppError {
  if (err instanceof GdprWhatsAppError && !(err instanceof CloudApiError)) return err;
  const reason =
    err instanceof CloudApiError
      ? err.apiCode === NO_API_CODE
        ? err.title
        : `${err.apiCode} ${err.title}`
      : 'no answer';
  // Meta's own refusal (no permission to read templates, say) lasts; a failed connection or a rate limit passes.
  const passing = !(err instanceof CloudApiError) || err.retryable;
  return new GdprWhatsAppError(
    passing ? 'template-check-unavailable' : 'template-check-failed',
    `The template category of ${name} could not be looked up (${reason}): nothing was sent`,
    { template: name, reason },
  );
}
