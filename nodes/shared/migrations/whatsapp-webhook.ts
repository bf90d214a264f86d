import { DEFAULT_MAX_WEBHOOK_BYTES } from '../../../lib/webhook/handler';
import { type Migration, withDefaults } from './index';

export const WHATSAPP_WEBHOOK_DEFAULTS = {
  minimise: true,
  maxBytes: DEFAULT_MAX_WEBHOOK_BYTES,
};

export const whatsappWebhookMigrations: readonly Migration[] = [withDefaults(WHATSAPP_WEBHOOK_DEFAULTS)];
