import { MARKETING } from '../cloud-api/template-categories';

/**
 * What one look at the opt-in confirmation template found. `warn` is true the first time a template is seen as
 * MARKETING (and again after Meta made it a utility template and then a marketing one once more), so that a busy form
 * does not repeat the same warning with every request.
 */
export type OptInTemplateFinding =
  | { template: string; marketing: true; warn: boolean }
  | { template: string; marketing: false }
  /**
   * The template list did not answer: nothing is known, and what was known stays. `warn` is true for the first
   * failure since the template was last looked up, so that an outage is told once, not with every request.
   */
  | { template: string; unknown: true; error: unknown; warn: boolean };

/**
 * Watches the category Meta gives the template opt-in-flow asks for a consent with. Meta expects a double opt-in
 * request to be a UTILITY template: as MARKETING it is priced as advertising, may be dropped by Meta's marketing
 * limits (frequency caps, "stop promotions") and reads as advertising sent before any consent (§ 7(2) no. 2 UWG).
 * It is not ours to refuse it (the request asks for the consent, see marketing-templates.ts), so the watch only
 * reports: whatsapp-send warns and shows it. The category comes from the client's memo of the template list, which
 * whatsapp-webhook clears when Meta reports a template's category or status changed: the next request looks again.
 */
export class OptInTemplateWatch {
  /** The templates last seen as MARKETING (warned about). */
  private readonly marketing = new Set<string>();
  /** The templates whose last lookup failed (warned about). */
  private readonly unknown = new Set<string>();

  /** Looks `template` up; never throws: a failed lookup must not hold up or fail the request it goes with. */
  async check(template: string, categoryOf: (name: string) => Promise<string | null>): Promise<OptInTemplateFinding> {
    let category: string | null;
    try {
      category = await categoryOf(template);
    } catch (error) {
      const warn = !this.unknown.has(template);
      this.unknown.add(template);
      return { template, unknown: true, error, warn };
    }
    this.unknown.delete(template);
    if (category === MARKETING) {
      const warn = !this.marketing.has(template);
      this.marketing.add(template);
      return { template, marketing: true, warn };
    }
    // Not listed (Meta refuses the send itself, 132001) or another category: nothing to warn about.
    this.marketing.delete(template);
    return { template, marketing: false };
  }

  /** The templates last seen as MARKETING, for the node's status. */
  flagged(): string[] {
    return [...this.marketing];
  }
}
