import { registerLedgerContract } from './contract';
import { registerEventFeedContract } from './event-feed-contract';
import { registerFollowBackContract } from './follow-back-contract';
import { POSTGRES_URL, postgresHarness } from './harness';
import { registerIdentityContract } from './identity-contract';
import { registerLateDeliveryContract } from './late-delivery-contract';
import { registerQuotedReplyContract } from './quoted-reply-contract';
import { registerRequestProofContract } from './request-proof-contract';

if (POSTGRES_URL) {
  registerLedgerContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerIdentityContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerLateDeliveryContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerQuotedReplyContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerRequestProofContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerFollowBackContract('PostgreSQL', postgresHarness(POSTGRES_URL));
  registerEventFeedContract('PostgreSQL', postgresHarness(POSTGRES_URL));
} else {
  describe('consent ledger contract: PostgreSQL', () => {
    it('PostgreSQL contract suite skipped: set WA_GDPR_PG_URL');
  });
}
