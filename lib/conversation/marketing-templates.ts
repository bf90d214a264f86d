import { CloudApiError, NO_API_CODE } from '../cloud-api/errors';
import type { OutgoingMessageBody } from '../cloud-api/message-types';
import { MARKETING } from '../cloud-api/template-categories';
import { GdprWhatsAppError } from '../errors';

/**
 * Advertising by electronic message needs the recipient's prior express consent (§ 7(2) no. 2 UWG, and Art. 6(1)(a)
 * GDPR for the processing), whatever basis the purpose it is sent under names. Meta itself judges whether a template
 * advertises: its MARKETING category. A template that did not pass a consent-gate for a marketing purpose is
 * therefore looked up, and a marketing one is refused before it leaves.
 */
export interface TemplateSendContext {
  /**
   * The message passed a consent-gate for a marketing purpose (which rests on consent, and which Meta's "stop
   * promotions" withdraws); whatsapp-send checks that consent again when the message leaves the queue.
   */
  marketingConsent: boolean;
  /** The name of the template opt-in-flow sends to ask for a consent: that one advertises nothing. */
  optInRequestTemplate?: string;
}

/** Meta's limit on calls to the business account's management API: a wait, not a refusal. */
const MANAGEMENT_CALL_LIMIT = 80008;

export async function assertTemplateMayGo(
  body: OutgoingMessageBody,
  context: TemplateSendContext,
  categoryOf: (name: string) => Promise<string | null>,
): Promise<void> {
  const name = templateName(body);
  if (name === undefined || context.marketingConsent || name === context.optInRequestTemplate) return;
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
      `${name} is a marketing template: advertising over WhatsApp needs the person's consent, so send it through a consent-gate for a marketing purpose`,
      { template: name },
    );
  }
}

function templateName(body: OutgoingMessageBody): string | undefined {
  const { type, template } = body as { type?: unknown; template?: { name?: unknown } };
  return type === 'template' && typeof template?.name === 'string' ? template.name : undefined;
}

function checkFailed(name: string, err: unknown): GdprWhatsAppError {
  if (!(err instanceof CloudApiError)) {
    if (err instanceof GdprWhatsAppError) return err;
    return new GdprWhatsAppError(
      'template-check-unavailable',
      `The template category of ${name} could not be looked up: nothing was sent`,
      { template: name, reason: 'no answer' },
    );
  }
  // A rate limit's named wait, or a hold during one, is the flow's to honour: Meta's own report says how long.
  if (err.retryAfterMs !== undefined || err.held) return err;
  const reason = err.apiCode === NO_API_CODE ? err.title : `${err.apiCode} ${err.title}`;
  // Meta's refusal (no permission to read templates, say) lasts; a failed connection or a rate limit passes.
  const passing = err.retryable || err.apiCode === MANAGEMENT_CALL_LIMIT;
  return new GdprWhatsAppError(
    passing ? 'template-check-unavailable' : 'template-check-failed',
    `The template category of ${name} could not be looked up (${reason}): nothing was sent`,
    { template: name, reason },
  );
}
