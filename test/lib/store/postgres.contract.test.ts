import { registerLedgerContract } from './contract';
import { POSTGRES_URL, postgresHarness } from './harness';

if (POSTGRES_URL) {
  registerLedgerContract('PostgreSQL', postgresHarness(POSTGRES_URL));
} else {
  describe('consent ledger contract: PostgreSQL', () => {
    it('PostgreSQL contract suite skipped: set WA_GDPR_PG_URL');
  });
}
