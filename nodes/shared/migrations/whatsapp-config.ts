import { type Migration, withDefaults } from './index';

export const WHATSAPP_CONFIG_DEFAULTS = {
  mode: 'cloud',
  apiBaseUrl: 'https://graph.facebook.com',
  apiVersion: 'v25.0',
  throughput: 80,
  maxQueue: 1000,
  timeoutMs: 15000,
};

export const whatsappConfigMigrations: readonly Migration[] = [withDefaults(WHATSAPP_CONFIG_DEFAULTS)];
