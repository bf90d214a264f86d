import type { Node, NodeDef } from 'node-red';
import type { CloudApiClient } from '../../lib/cloud-api/client';

/** Saved properties of whatsapp-config (DESIGN.md section 2); numbers may arrive as strings from the editor. */
export interface WhatsAppConfigDef extends NodeDef {
  configVersion?: number;
  mode: 'cloud' | 'sandbox';
  apiBaseUrl: string;
  apiVersion: string;
  phoneNumberId: string;
  wabaId?: string;
  throughput: number | string;
  maxQueue: number | string;
  timeoutMs: number | string;
}

export interface WhatsAppCredentials {
  accessToken?: string;
  appSecret?: string;
  verifyToken?: string;
}

/** A whatsapp-webhook node as its config node knows it: where Meta (or the sandbox) posts. */
export interface WebhookRegistration {
  id: string;
  path: string;
}

/** The runtime object of a whatsapp-config node, as the flow nodes use it. */
export interface WhatsAppConfigNode extends Node<WhatsAppCredentials> {
  mode: 'cloud' | 'sandbox';
  /** The phone number id in use (in sandbox mode derived from the node id when left empty). */
  phoneNumberId: string;
  /** The shared client, created on first use; in sandbox mode once the sandbox is up. */
  client(): Promise<CloudApiClient>;
  /** Drops what the client remembers of these templates' categories (Meta reported them changed). */
  forgetTemplateCategories(names: readonly string[]): void;
  /** The secret webhooks are signed with (in sandbox mode a per-process one when left empty). */
  appSecret(): string | undefined;
  verifyToken(): string | undefined;
  registerWebhook(webhook: WebhookRegistration): void;
  unregisterWebhook(webhook: WebhookRegistration): void;
}

export interface WhatsAppWebhookDef extends NodeDef {
  configVersion?: number;
  path: string;
  whatsapp: string;
  minimise: boolean;
  maxBytes: number | string;
  store?: string;
}

export interface WhatsAppSendDef extends NodeDef {
  configVersion?: number;
  whatsapp: string;
  /** Append the opt-out instruction to free-form and interactive messages (default true). */
  optOutFooter?: boolean;
  /** Language of the opt-out line: 'auto' (from the number), 'en' or 'de'. */
  language?: string;
}

/** A positive integer from an editor field, or the fallback. */
export function positiveInteger(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value.trim()) : Number(value);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : fallback;
}
