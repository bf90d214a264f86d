import { registerLedgerContract } from './contract';
import { registerEventFeedContract } from './event-feed-contract';
import { registerFollowBackContract } from './follow-back-contract';
import { sqliteHarness } from './harness';
import { registerIdentityContract } from './identity-contract';
import { registerLateDeliveryContract } from './late-delivery-contract';

registerLedgerContract('SQLite', sqliteHarness());
registerIdentityContract('SQLite', sqliteHarness());
registerLateDeliveryContract('SQLite', sqliteHarness());
registerFollowBackContract('SQLite', sqliteHarness());
registerEventFeedContract('SQLite', sqliteHarness());
