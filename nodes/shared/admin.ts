/**
 * Admin HTTP endpoints of this package live under one prefix on RED.httpAdmin and are guarded with
 * Node-RED permissions of their own, so a deployment's adminAuth can grant staff read access to the
 * sandbox chat or the connection check without granting flow editing (GDPR Art. 32: access only
 * for authorised staff).
 */
export const ADMIN_PREFIX = '/whatsapp-gdpr';
export const PERMISSION_READ = 'whatsapp-gdpr.read';
export const PERMISSION_WRITE = 'whatsapp-gdpr.write';
export const SANDBOX_CHAT_PATH = `${ADMIN_PREFIX}/sandbox`;
