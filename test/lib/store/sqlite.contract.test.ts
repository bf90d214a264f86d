import { registerLedgerContract } from './contract';
import { sqliteHarness } from './harness';
import { registerIdentityContract } from './identity-contract';

registerLedgerContract('SQLite', sqliteHarness());
registerIdentityContract('SQLite', sqliteHarness());
