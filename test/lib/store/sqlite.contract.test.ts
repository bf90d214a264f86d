import { registerLedgerContract } from './contract';
import { sqliteHarness } from './harness';

registerLedgerContract('SQLite', sqliteHarness());
