import { registerLedgerContract } from './contract';
import { registerEventFeedContract } from './event-feed-contract';
import { registerFollowBackContract } from './follow-back-contract';
import { sqliteHarness } from './harness';
import { registerIdentityContract } from './identity-contract';
import { registerLateDeliveryContract } from './late-delivery-contract';
import { registerQuotedReplyContract } from './quoted-reply-contract';
import { registerRequestProofContract } from './request-proof-contract';

registerLedgerContract('SQLite', sqliteHarness());
registerIdentityContract('SQLite', sqliteHarness());
registerLateDeliveryContract('SQLite', sqliteHarness());
registerQuotedReplyContract('SQLite', sqliteHarness());
registerRequestProofContract('SQLite', sqliteHarness());
registerFollowBackContract('SQLite', sqliteHarness());
registerEventFeedContract('SQLite', sqliteHarness());
