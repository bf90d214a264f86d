import { type Migration, withDefaults } from './index';

export const whatsappSendMigrations: readonly Migration[] = [withDefaults({ optOutFooter: true, language: 'auto' })];
