import type { AccountEvent } from './types';

/** Webhook fields that say a template's category or status changed. */
const TEMPLATE_CHANGE_FIELDS: ReadonlySet<string> = new Set([
  'template_category_update',
  'message_template_status_update',
]);

/**
 * The names of the templates these events report changed: what whatsapp-send remembered of their category (for the
 * consent a marketing template needs) is looked up again instead of waiting for it to age out.
 */
export function changedTemplateNames(events: readonly AccountEvent[]): string[] {
  const names = events
    .filter((event) => TEMPLATE_CHANGE_FIELDS.has(event.field))
    .map((event) => event.template?.name)
    .filter((name): name is string => typeof name === 'string' && name.length > 0);
  return [...new Set(names)];
}
