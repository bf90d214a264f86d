export * from './build';
export * from './dedupe';
export * from './handler';
export * from './normalise';
export * from './signature';
export * from './template-events';
export type { AccountEvent, InboundMessage, MessageStatus, WebhookError as MetaWebhookError } from './types';
export * from './verify';
