import { effectiveBasis, type PurposeDefinition } from './purposes';
import { removedPurposeEndDays } from './retention-sweep';
import type { RetentionSettings } from './types';

/** The texts accessInformation names Meta's service and transfers by, and an integrator's (export-subject). */
export const META_SERVICE = 'WhatsApp Business Platform (Cloud API)';
export const US_TRANSFER = 'US: EU-U.S. Data Privacy Framework (Art. 45 GDPR)';
export const OTHER_TRANSFERS = 'other countries: standard contractual clauses (Art. 46(2)(c) GDPR)';
export const INTEGRATOR_SERVICE = 'operates this WhatsApp integration for the controller';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_MS = 365.25 * DAY_MS;

/**
 * What Art. 15(1) and (2) GDPR ask an access answer to state besides the data itself, as far as the package knows
 * it: the purposes with their legal basis, the categories of data, the recipients (Meta as processor, with its
 * transfers), how long each kind is kept, where the data came from, the rights, and that no automated decision is
 * made. Codes and article numbers rather than prose, so that the controller words the letter in the person's
 * language; the controller's own recipients (a CRM, a service provider) are the controller's to add.
 */
export interface AccessInformation {
  purposes: {
    id: string;
    label: string;
    labels?: Record<string, string>;
    lawfulBasis: string;
    interest?: Record<string, string>;
    marketing: boolean;
  }[];
  categories: string[];
  recipients: { name: string; role: 'processor'; service: string; thirdCountryTransfers: string[] }[];
  retention: {
    pendingRequestHours: number;
    personalDataAfterEndDays: number;
    /**
     * A consent or request for a purpose the controller no longer pursues (taken out of the store's settings) ends
     * this many days after that; its personal data then goes after personalDataAfterEndDays.
     */
    consentAfterPurposeRemovedDays: number;
    proofYears: number;
    /**
     * Proof carried forward in the audit log for as long as what it proves stands (Art. 7(1) GDPR): the retention
     * sweep restates its audit events at the head of the log before it removes them (consent.proof-restated). The
     * proofYears then count from its end.
     */
    proofCarriedForwardWhileStanding: string[];
    /** Kept with no time limit: the erasure list and objections to purposes that need no consent. */
    withoutTimeLimit: string[];
  };
  sources: string[];
  rights: { right: string; article: string }[];
  automatedDecisions: 'none';
}

export function accessInformation(
  purposes: ReadonlyMap<string, PurposeDefinition>,
  retention: RetentionSettings,
): AccessInformation {
  return {
    purposes: [...purposes.values()].map((p) => ({
      id: p.id,
      label: p.label,
      ...(p.labels ? { labels: p.labels } : {}),
      lawfulBasis: effectiveBasis(p),
      ...(p.interest && effectiveBasis(p) === 'legitimate-interest' ? { interest: p.interest } : {}),
      marketing: p.marketing,
    })),
    categories: ['phone-number', 'whatsapp-ids', 'profile-name', 'consent-records', 'notices-shown', 'audit-events'],
    recipients: [
      {
        name: 'Meta Platforms Ireland Limited',
        role: 'processor',
        service: META_SERVICE,
        thirdCountryTransfers: [US_TRANSFER, OTHER_TRANSFERS],
      },
    ],
    retention: {
      pendingRequestHours: Math.round(retention.pendingExpiryMs / HOUR_MS),
      personalDataAfterEndDays: Math.round(retention.personalDataMs / DAY_MS),
      consentAfterPurposeRemovedDays: removedPurposeEndDays(retention.personalDataMs),
      proofYears: Math.round(retention.proofRetentionMs / YEAR_MS),
      proofCarriedForwardWhileStanding: ['given-consent', 'objection-to-purpose-without-consent'],
      withoutTimeLimit: ['erasure-list-entry', 'objection-to-purpose-without-consent'],
    },
    sources: ['data-subject-whatsapp-messages', 'data-subject-web-form', 'meta-webhook-notifications'],
    rights: [
      { right: 'access', article: 'Art. 15 GDPR' },
      { right: 'rectification', article: 'Art. 16 GDPR' },
      { right: 'erasure', article: 'Art. 17 GDPR' },
      { right: 'restriction', article: 'Art. 18 GDPR' },
      { right: 'portability', article: 'Art. 20 GDPR' },
      { right: 'objection', article: 'Art. 21 GDPR' },
      { right: 'withdraw-consent', article: 'Art. 7(3) GDPR' },
      { right: 'complaint-to-supervisory-authority', article: 'Art. 77 GDPR' },
    ],
    automatedDecisions: 'none',
  };
}
