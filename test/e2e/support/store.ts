import fs from 'node:fs';
import path from 'node:path';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { PurposeConfig } from '../../../lib/consent/types';
import { openSqliteDatabase } from '../../../lib/store/sqlite-driver';
import { parseStoreKeys, sqliteFile } from '../../../nodes/consent-store';
import { STORE_KEY_FILE } from '../../../nodes/shared/store-key-file';

type FlowNode = Record<string, unknown>;

/**
 * The consent store of an example as the running Node-RED wrote it: the SQLite file in the user directory,
 * opened beside the flow's own connection with the keys consent-store generated into the user directory.
 */
export async function withStore<T>(
  userDir: string,
  storeNode: FlowNode,
  use: (ledger: ConsentLedger) => Promise<T>,
): Promise<T> {
  const keys = JSON.parse(fs.readFileSync(path.join(userDir, STORE_KEY_FILE), 'utf8'));
  const ledger = await ConsentLedger.open({
    backend: 'sqlite',
    sqlitePath: sqliteFile(String(storeNode.sqlitePath ?? ''), userDir),
    ...parseStoreKeys(keys),
    purposes: storeNode.purposes as PurposeConfig[],
  });
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}

export async function consentStatus(
  userDir: string,
  storeNode: FlowNode,
  phone: string,
  purpose: string,
): Promise<{ status: string; allowed: boolean; reason: string }> {
  return withStore(userDir, storeNode, (ledger) => ledger.checkConsent(phone, purpose));
}

/** Where a consent-events node stands in its store's event feed: the newest event it acknowledged. */
export function acknowledgedEventId(userDir: string, storeNode: FlowNode, eventsNodeId: string): number | undefined {
  const { db } = openSqliteDatabase(sqliteFile(String(storeNode.sqlitePath ?? ''), userDir));
  try {
    const row = db
      .prepare('SELECT last_id FROM event_cursors WHERE consumer = ?')
      .get(`consent-events:${eventsNodeId}`);
    return row === undefined ? undefined : Number((row as { last_id: number }).last_id);
  } finally {
    db.close();
  }
}
