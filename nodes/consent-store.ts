import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { EncryptionKey } from '../lib/consent/keys';
import { type LedgerHandle, ThreadedConsentLedger } from '../lib/consent/threaded-ledger';
import type { LedgerOptions, RetentionSettings } from '../lib/consent/types';
import {
  marketingWithoutConsent,
  missingInterest,
  type PurposeDefinition,
  parsePurposes,
} from '../lib/conversation/purposes';
import { GdprWhatsAppError } from '../lib/errors';
import { parseCountry } from '../lib/phone';
import { textOr, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { statusOf } from './shared/status';
import { hasNoKeys, storeKeysFromFile } from './shared/store-key-file';

export const CONSENT_STORE_DEFAULTS = {
  backend: 'sqlite',
  sqlitePath: '',
  postgresSchema: '',
  purposes: [] as unknown[],
  pendingExpiryHours: 48,
  withdrawnPersonalDataDays: 30,
  auditRetentionYears: 5,
  sweepIntervalMinutes: 60,
};

export const consentStoreMigrations: readonly Migration[] = [withDefaults(CONSENT_STORE_DEFAULTS)];

export const DEFAULT_SQLITE_FILE = 'whatsapp-consent.db';

export interface ConsentStoreDef extends NodeDef {
  configVersion?: number;
  backend: 'sqlite' | 'postgres';
  sqlitePath: string;
  postgresSchema?: string;
  purposes: unknown;
  defaultCountry?: string;
  pendingExpiryHours: number | string;
  withdrawnPersonalDataDays: number | string;
  auditRetentionYears: number | string;
  sweepIntervalMinutes: number | string;
}

export interface ConsentStoreCredentials {
  postgresUrl?: string;
  /** Base64 AES-256 keys, comma- or newline-separated; the first encrypts, all decrypt (rotation). */
  encryptionKey?: string;
  pseudonymKey?: string;
}

/** The store's retention settings in the units of its edit dialog (the privacy policy page shows them). */
export interface StoreRetention {
  pendingExpiryHours: number;
  withdrawnPersonalDataDays: number;
  auditRetentionYears: number;
  sweepIntervalMinutes: number;
}

/** The runtime object of a consent-store node, as flow nodes use it (`RED.nodes.getNode(config.store)`). */
export interface ConsentStoreNode extends Node<ConsentStoreCredentials> {
  /** Opens the ledger once and shares it with every node using this store; rejects with a coded error. */
  getLedger(): Promise<LedgerHandle>;
  /** Set once the ledger is open. */
  ledger?: LedgerHandle;
  /**
   * Calls `listener` with every ledger this store opens from now on (after a failed open or a stopped thread the
   * store opens a new one); returns the function that stops the calls. The store waits (5 s at most) for the promise
   * the listener may answer before any other node gets the ledger (consent-events registers in the event feed), so
   * the listener must not wait for getLedger(): that waits for it.
   */
  onLedgerOpened(listener: (ledger: LedgerHandle) => unknown): () => void;
  purposes: PurposeDefinition[];
  retention: StoreRetention;
  /**
   * The country a number written nationally ("0151 23456789") is read in where staff or a shop's system name a person
   * (consent-gate's msg.to, erasure and export requests, staff withdrawals); undefined: such numbers are refused.
   */
  defaultCountry?: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_MS = 365.25 * DAY_MS;

/** The first retry of a failed open waits this long, each next one twice as long, up to REOPEN_MAX_MS. */
const REOPEN_FIRST_MS = 500;
const REOPEN_MAX_MS = 60_000;

/** How long a newly opened ledger waits for its onLedgerOpened listeners before other nodes get it. */
const LISTENER_WAIT_MS = 5000;

/** A base64 (or base64url) text that decodes to exactly `bytes` bytes, or undefined. */
function decodeKey(text: string, minBytes: number, maxBytes: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  const key = Buffer.from(text, 'base64');
  return key.length >= minBytes && key.length <= maxBytes ? key : undefined;
}

/**
 * The keys from the node's credentials. Art. 32 GDPR: without them the store would hold phone numbers in
 * plain text, so it refuses to open. Key ids are derived from the key, so that rotating means putting a new
 * key first and keeping the old one after it, with nothing else to name. The error never contains key bytes.
 */
export function parseStoreKeys(credentials: ConsentStoreCredentials): {
  encryptionKeys: EncryptionKey[];
  pseudonymKey: Buffer;
} {
  const encryptionTexts = String(credentials.encryptionKey ?? '')
    .split(/[\s,]+/)
    .filter((t) => t.length > 0);
  const pseudonymText = String(credentials.pseudonymKey ?? '').trim();
  if (encryptionTexts.length === 0 || pseudonymText.length === 0) {
    throw new GdprWhatsAppError(
      'missing-keys',
      'The consent store needs an encryption key and a pseudonym key; it stores no personal data without them',
    );
  }
  const encryptionKeys = encryptionTexts.map((text) => {
    const key = decodeKey(text, 32, 32);
    if (!key) {
      throw new GdprWhatsAppError('invalid-key', 'The encryption key must be 32 bytes, written as base64', {
        field: 'encryptionKey',
      });
    }
    return { id: `k${createHash('sha256').update(key).digest('hex').slice(0, 10)}`, key };
  });
  const pseudonymKey = decodeKey(pseudonymText, 32, 64);
  if (!pseudonymKey) {
    throw new GdprWhatsAppError('invalid-key', 'The pseudonym key must be 32 to 64 bytes, written as base64', {
      field: 'pseudonymKey',
    });
  }
  return { encryptionKeys, pseudonymKey };
}

/** The largest value the edit dialog allows for each retention setting (consent-store.html keeps the same). */
export const RETENTION_LIMITS: StoreRetention = {
  pendingExpiryHours: 24 * 365,
  withdrawnPersonalDataDays: 3650,
  auditRetentionYears: 100,
  sweepIntervalMinutes: 7 * 24 * 60,
};

function defaultRetention(): StoreRetention {
  const { pendingExpiryHours, withdrawnPersonalDataDays, auditRetentionYears, sweepIntervalMinutes } =
    CONSENT_STORE_DEFAULTS;
  return { pendingExpiryHours, withdrawnPersonalDataDays, auditRetentionYears, sweepIntervalMinutes };
}

const RETENTION_LABELS: Record<keyof StoreRetention, string> = {
  pendingExpiryHours: 'Unconfirmed requests expire after (hours)',
  withdrawnPersonalDataDays: 'Delete personal data after withdrawal (days)',
  auditRetentionYears: 'Keep consent proof and audit events (years)',
  sweepIntervalMinutes: 'Run the clean-up every (minutes)',
};

/**
 * The retention settings as the dialog allows them: a whole number from 1 to its limit, or the default when the
 * setting is missing. A flow written by hand or deployed through the admin API with anything else (0.5, "abc",
 * 1000 years) is refused with the setting's name: a retention period is a promise the policy page makes.
 */
export function storeRetention(
  config: ConsentStoreDef,
  translate: (setting: keyof StoreRetention, english: string) => string = (_setting, english) => english,
): StoreRetention {
  const label = (setting: keyof StoreRetention) => translate(setting, RETENTION_LABELS[setting]);
  const setting = (name: keyof StoreRetention): number => {
    const value = config[name];
    const text = value === undefined || value === null ? '' : String(value).trim();
    if (text === '') return CONSENT_STORE_DEFAULTS[name];
    const n = Number(text);
    if (/^\d+$/.test(text) && n >= 1 && n <= RETENTION_LIMITS[name]) return n;
    throw new GdprWhatsAppError(
      'invalid-retention',
      `The consent store's setting "${label(name)}" must be a whole number from 1 to ${RETENTION_LIMITS[name]}, not "${text.slice(0, 40)}"`,
      { field: name, setting: label(name), max: RETENTION_LIMITS[name], value: text.slice(0, 40) },
    );
  };
  return {
    pendingExpiryHours: setting('pendingExpiryHours'),
    withdrawnPersonalDataDays: setting('withdrawnPersonalDataDays'),
    auditRetentionYears: setting('auditRetentionYears'),
    sweepIntervalMinutes: setting('sweepIntervalMinutes'),
  };
}

function ledgerRetention(retention: StoreRetention): Partial<RetentionSettings> {
  return {
    pendingExpiryMs: retention.pendingExpiryHours * HOUR_MS,
    personalDataMs: retention.withdrawnPersonalDataDays * DAY_MS,
    proofRetentionMs: retention.auditRetentionYears * YEAR_MS,
  };
}

/** The SQLite file: the dialog's path (relative to the Node-RED user directory), else the default file there. */
export function sqliteFile(configured: string | undefined, userDir: string | undefined): string {
  const base = userDir || join(homedir(), '.node-red');
  const path = String(configured ?? '').trim();
  if (!path) return join(base, DEFAULT_SQLITE_FILE);
  return isAbsolute(path) ? path : join(base, path);
}

/** Everything the ledger needs, checked before anything is opened. */
export function ledgerOptions(
  config: ConsentStoreDef,
  credentials: ConsentStoreCredentials,
  userDir: string | undefined,
): LedgerOptions {
  const keys = parseStoreKeys(credentials);
  const purposes = parsePurposes(config.purposes);
  const retention = ledgerRetention(storeRetention(config));
  if (config.backend === 'postgres') {
    const postgresUrl = String(credentials.postgresUrl ?? '').trim();
    if (!postgresUrl) {
      throw new GdprWhatsAppError(
        'missing-postgres-url',
        'The consent store uses PostgreSQL but has no connection URL',
      );
    }
    const postgresSchema = String(config.postgresSchema ?? '').trim() || undefined;
    return { backend: 'postgres', postgresUrl, postgresSchema, ...keys, purposes, retention };
  }
  return { backend: 'sqlite', sqlitePath: sqliteFile(config.sqlitePath, userDir), ...keys, purposes, retention };
}

/**
 * The node's credentials; for a SQLite store without any key (an imported example, a hand-written flow) the
 * keys generated once in the user directory instead, so such a flow runs as it is and still stores nothing
 * in plain text. Without a known user directory (embedded runtimes) the store refuses as before.
 */
function credentialsOrKeyFile(
  RED: NodeAPI,
  node: Node<ConsentStoreCredentials>,
  config: ConsentStoreDef,
  userDir: string | undefined,
): ConsentStoreCredentials {
  const credentials = node.credentials ?? {};
  if (config.backend === 'postgres' || !userDir || !hasNoKeys(credentials)) return credentials;
  const { keys, file, created } = storeKeysFromFile(userDir);
  const key = created ? 'key-file-created' : 'key-file-used';
  const english = created
    ? 'Generated keys for the consent store in __file__; back this file up with the database'
    : 'The consent store uses the keys in __file__';
  node.log(RED._(`consent-store.log.${key}`, { file, defaultValue: english }));
  return { ...credentials, ...keys };
}

export default function registerConsentStore(RED: NodeAPI): void {
  /**
   * The database each running store opened, by the store's id: two stores on one database each act on their own
   * purposes only (a STOP through one leaves the other's standing), with their own wordings.
   */
  const databasesInUse = new Map<string, { id: string; name: string }>();

  function ConsentStore(this: ConsentStoreNode, saved: ConsentStoreDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrate<ConsentStoreDef>(saved, consentStoreMigrations);
    let opening: Promise<LedgerHandle> | undefined;
    let closed = false;
    const openedListeners = new Set<(ledger: LedgerHandle) => unknown>();
    let reopenTimer: NodeJS.Timeout | undefined;
    let reopenDelay = REOPEN_FIRST_MS;

    // Until the settings are read (a setting the dialog refuses leaves the store unopened, with the defaults shown).
    node.retention = { ...defaultRetention() };
    node.purposes = [];
    // A misspelt country must not keep the store from opening (every STOP would fail): numbers written nationally are
    // then refused, as without the setting, and the log says why.
    try {
      node.defaultCountry = parseCountry(config.defaultCountry);
    } catch (err) {
      node.error(translateError(RED, err));
    }
    // Keys, purposes and the connection URL are checked once: such a problem lasts until the next deploy,
    // so it is logged once and every caller gets the same error, instead of one log line per message.
    let options: LedgerOptions | undefined;
    let configProblem: unknown;
    try {
      node.retention = storeRetention(config, (setting, english) =>
        textOr(RED, `consent-store.label.${setting}`, english),
      );
      node.purposes = parsePurposes(config.purposes);
      for (const purpose of node.purposes.filter(missingInterest)) {
        node.warn(RED._('consent-store.log.interest-missing', { purpose: purpose.id }));
      }
      for (const purpose of node.purposes.filter(marketingWithoutConsent)) {
        node.warn(RED._('consent-store.log.marketing-without-consent', { purpose: purpose.id }));
      }
      const userDir = RED.settings.userDir as string | undefined;
      options = ledgerOptions(config, credentialsOrKeyFile(RED, node, config, userDir), userDir);
    } catch (err) {
      configProblem = err;
      node.error(translateError(RED, err));
    }
    const database = options ? databaseOf(options) : undefined;
    if (database) {
      const other = databasesInUse.get(database.key);
      if (other && other.id !== node.id) {
        node.warn(RED._('consent-store.log.shared-database', { other: other.name, database: database.shown }));
      } else {
        databasesInUse.set(database.key, { id: node.id, name: config.name || node.id });
      }
    }

    /** Errors already in the log (a thread that stopped), so that a failed open does not log them again. */
    const reported = new WeakSet<object>();

    async function open(settings: LedgerOptions): Promise<LedgerHandle> {
      const ledger = await ThreadedConsentLedger.open({ ...settings, instanceId: node.id });
      if (closed) {
        await ledger.close();
        throw new GdprWhatsAppError('store-closed', 'The consent store was stopped');
      }
      // Background usage flushes and sweeps report failures here; an unheard one would go unnoticed.
      ledger.on('warning', (err: unknown) => node.warn(translateError(RED, err)));
      let stopped: unknown;
      ledger.once('stopped', (err: unknown) => {
        stopped = err;
        if (typeof err === 'object' && err !== null) reported.add(err);
        node.error(translateError(RED, err));
        if (node.ledger !== ledger) return;
        // The next caller opens the ledger again instead of getting this one's error forever.
        node.ledger = undefined;
        opening = undefined;
        reopenSoon();
      });
      ledger.startRetentionTimer(node.retention.sweepIntervalMinutes * 60_000);
      await tellOpened(ledger);
      // The thread may have died meanwhile (getLedger's failure path opens a new one), or the flow stopped.
      if (stopped !== undefined) throw stopped;
      if (closed) {
        await ledger.close();
        throw new GdprWhatsAppError('store-closed', 'The consent store was stopped');
      }
      node.ledger = ledger;
      reopenDelay = REOPEN_FIRST_MS;
      return ledger;
    }

    /**
     * The onLedgerOpened listeners, waited for (consent-events registers in the event feed before any other node can
     * change a consent), but not for longer than LISTENER_WAIT_MS: a database lock held elsewhere must not keep every
     * node from the store. A listener must not wait for getLedger() itself.
     */
    async function tellOpened(ledger: LedgerHandle): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const told = Promise.all(
        [...openedListeners].map((listener) =>
          Promise.resolve()
            .then(() => listener(ledger))
            .catch(() => undefined),
        ),
      );
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, LISTENER_WAIT_MS);
      });
      await Promise.race([told, late]);
      clearTimeout(timer);
    }

    /**
     * Opens the ledger again without waiting for a caller: the retention sweep runs in it, and consent-events
     * hears the changes other nodes make once the database is back (PostgreSQL starting after Node-RED, say).
     */
    function reopenSoon(): void {
      if (closed || reopenTimer) return;
      reopenTimer = setTimeout(() => {
        reopenTimer = undefined;
        node.getLedger().catch(() => undefined);
      }, reopenDelay);
      reopenTimer.unref();
      reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX_MS);
    }

    node.onLedgerOpened = (listener) => {
      openedListeners.add(listener);
      return () => openedListeners.delete(listener);
    };

    node.getLedger = () => {
      if (closed) return Promise.reject(new GdprWhatsAppError('store-closed', 'The consent store was stopped'));
      if (!options) return Promise.reject(configProblem);
      if (!opening) {
        opening = open(options);
        opening.catch((err: unknown) => {
          // The database may come back (PostgreSQL restarting): the next caller, or the retry, tries again.
          if (!closed && !reported.has(err as object)) node.error(translateError(RED, err));
          opening = undefined;
          reopenSoon();
        });
      }
      return opening;
    };

    // Opened at deploy, not on first use: the retention sweep must run even when no message arrives, and
    // whatsapp-webhook finds `ledger` ready for durable de-duplication.
    if (options) node.getLedger().catch(() => undefined);

    node.on('close', (done: () => void) => {
      closed = true;
      if (database && databasesInUse.get(database.key)?.id === node.id) databasesInUse.delete(database.key);
      clearTimeout(reopenTimer);
      openedListeners.clear();
      const pending = opening;
      opening = undefined;
      node.ledger = undefined;
      Promise.resolve(pending)
        .then((ledger) => ledger?.close())
        .catch(() => undefined)
        .finally(done);
    });
  }

  RED.nodes.registerType('consent-store', ConsentStore as never, {
    settings: savedConfigSettings('consent-store', consentStoreMigrations),
    credentials: {
      postgresUrl: { type: 'password' },
      encryptionKey: { type: 'password' },
      pseudonymKey: { type: 'password' },
    },
  });
}

/** Which database a store opens, to compare with the others' (`key`), and how the log names it (`shown`). */
export function databaseOf(options: LedgerOptions): { key: string; shown: string } {
  if (options.backend === 'sqlite') {
    const file = String(options.sqlitePath ?? '');
    return { key: `sqlite:${resolvePath(file)}`, shown: file };
  }
  const url = String(options.postgresUrl ?? '');
  let where = 'PostgreSQL';
  try {
    const parsed = new URL(url);
    // Host, port and database only: the URL may hold a password.
    where = `PostgreSQL ${parsed.host}${parsed.pathname}`;
  } catch {
    // A URL the driver reads but URL does not: compared as written, named generically.
  }
  const schema = options.postgresSchema ?? 'public';
  return { key: `postgres:${url}#${schema}`, shown: `${where} (schema ${schema})` };
}

/** The consent-store a flow node points at, or undefined when the property is empty or names another type. */
export function findConsentStore(RED: NodeAPI, id: string | undefined): ConsentStoreNode | undefined {
  const store = id ? (RED.nodes.getNode(id) as ConsentStoreNode | null) : null;
  return store && typeof store.getLedger === 'function' ? store : undefined;
}

/**
 * Opens the store at deploy for a node that uses it, so that a store that cannot open (no valid keys, no database)
 * shows a red status on the node at once, not only when the first message fails. `node` is anything with the
 * node's status(): a node that skips repeated statuses passes its own setter, so it knows what is shown.
 */
export function showStoreProblems(node: Pick<Node, 'status'>, RED: NodeAPI, store: ConsentStoreNode | undefined): void {
  store?.getLedger().catch((err: unknown) => node.status(statusOf('broken', translateError(RED, err))));
}

/**
 * How long a step of a message that waited in a queue waits for its consent store to come back from a redeploy:
 * well within whatsapp-send's check timeout, so that a store gone for good fails the message as no-consent-store.
 */
const REDEPLOY_WAIT_MS = 5000;
const REDEPLOY_RETRY_MS = 100;
/** Since when each store id found no store: once that is longer than a redeploy takes, nothing more is waited for. */
const missingSince = new Map<string, number>();

/**
 * Runs `use` with the ledger of the store with this id as it is now, not as it was when the message was queued: a
 * message that waited in whatsapp-send's queue while the store was redeployed is checked against the new copy, not
 * refused by the stopped one. While a redeploy replaces the store (stopped, or not there yet), it waits for the new
 * copy, at most REDEPLOY_WAIT_MS; then the error stands (`no-consent-store`: the store was removed).
 */
export async function withStoreLedger<T>(
  RED: NodeAPI,
  storeId: string,
  use: (ledger: LedgerHandle) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + REDEPLOY_WAIT_MS;
  for (;;) {
    const store = findConsentStore(RED, storeId);
    if (store) missingSince.delete(storeId);
    else if (!missingSince.has(storeId)) missingSince.set(storeId, Date.now());
    // A store removed from the flows: the messages queued behind the first fail at once, not one wait each.
    const goneFor = Date.now() - (missingSince.get(storeId) ?? Date.now());
    try {
      return await use(await ledgerOf(store));
    } catch (err) {
      const replacing = !store || (err instanceof GdprWhatsAppError && err.code === 'store-closed');
      if (!replacing || Date.now() >= deadline || goneFor > REDEPLOY_WAIT_MS) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, REDEPLOY_RETRY_MS));
  }
}

/** The ledger of a flow node's store; `no-consent-store` when the node has none. */
export function ledgerOf(store: ConsentStoreNode | undefined): Promise<LedgerHandle> {
  if (!store) {
    return Promise.reject(new GdprWhatsAppError('no-consent-store', 'No consent store is configured for this node'));
  }
  return store.getLedger();
}
