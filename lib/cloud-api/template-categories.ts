import type { Clock } from './pacer';

/** One entry of GET /{waba-id}/message_templates, as far as the category check needs it. */
export interface TemplateListing {
  name: string;
  language?: string;
  category?: string;
  status?: string;
}

/** Meta re-categorises approved templates (a UTILITY template can become MARKETING): a listing is trusted this long. */
export const TEMPLATE_CATEGORY_MAX_AGE_MS = 10 * 60 * 1000;
/** A name Meta did not list is asked again after this long: a template created since may be listed by then. */
export const TEMPLATE_MISS_MAX_AGE_MS = 60 * 1000;
/**
 * After a failed lookup (a 5xx, a timeout, no business account id), a lookup no message waits on (`backOff`) does not
 * ask the list again for this long, doubling with each failure that follows up to TEMPLATE_LIST_MAX_BACKOFF_MS: every
 * confirmation request of opt-in-flow looks its template up, and a form busy while the list is down would otherwise
 * add one call to Meta's management API per request, counting against its call limit (80008) and holding a
 * connection up to the timeout each, with nothing to gain (the request goes whatever the answer). Such lookups fail at
 * once meanwhile, with the failure remembered. A send that waits on the answer (marketing-templates.ts) still asks:
 * refused as retryable, it must go once the list is back, not a back-off later.
 */
export const TEMPLATE_LIST_BACKOFF_MS = 60 * 1000;
export const TEMPLATE_LIST_MAX_BACKOFF_MS = 4 * 60 * 1000;
/** A business account holds at most a few thousand templates; the memo never holds more names than this. */
const MAX_NAMES = 2000;

interface Entry {
  at: number;
  category: Promise<string | null>;
}

/** The template list failed: it is not asked again before `until`. */
interface Outage {
  until: number;
  backoffMs: number;
  error: unknown;
}

/**
 * The category Meta gives each template, looked up once per name and remembered for a while. Concurrent sends of
 * one template share one lookup. A failed lookup is not remembered for its name; for the list as a whole, it starts a
 * back-off for the lookups that ask for one (TEMPLATE_LIST_BACKOFF_MS), which a lookup that succeeds, or Meta's report
 * that a template changed (forget), ends.
 */
export class TemplateCategories {
  private readonly entries = new Map<string, Entry>();
  private outage?: Outage;

  constructor(
    private readonly list: (name: string) => Promise<TemplateListing[]>,
    private readonly clock: Clock,
  ) {}

  /**
   * MARKETING when any language of the template is marketing (Meta categorises each language on its own, and the
   * stricter one decides); otherwise the category Meta names; null when Meta lists no template of that name.
   * With `backOff`, during the back-off after a failed lookup it fails at once with that failure, asking nothing.
   */
  categoryOf(name: string, options: { backOff?: boolean } = {}): Promise<string | null> {
    const now = this.clock.now();
    const known = this.entries.get(name);
    if (known && now - known.at < TEMPLATE_CATEGORY_MAX_AGE_MS) return known.category;
    if (options.backOff && this.outage && now < this.outage.until) return Promise.reject(this.outage.error);
    const entry: Entry = { at: now, category: this.list(name).then((listings) => categoryAmong(name, listings)) };
    this.remember(name, entry);
    entry.category.then(
      (category) => {
        this.outage = undefined;
        // A miss is remembered for a short time only (shifting its start so that it ages out sooner).
        if (category === null && this.entries.get(name) === entry) {
          entry.at = now - TEMPLATE_CATEGORY_MAX_AGE_MS + TEMPLATE_MISS_MAX_AGE_MS;
        }
      },
      (error: unknown) => {
        if (this.entries.get(name) === entry) this.entries.delete(name);
        this.failed(now, error);
      },
    );
    return entry.category;
  }

  /** Forgets what was looked up for `name`: Meta reported that its category or status changed. */
  forget(name: string): void {
    this.entries.delete(name);
    // Meta reported a template change: the list answers again, most likely, and the change must be seen at once.
    this.outage = undefined;
  }

  /**
   * A lookup begun at `startedAt` failed. Lookups begun before the outage was known (concurrent ones) do not lengthen
   * it: only a lookup made after a back-off, which failed again, doubles the next one.
   */
  private failed(startedAt: number, error: unknown): void {
    const now = this.clock.now();
    const known = this.outage;
    if (known && startedAt < known.until) {
      known.error = error;
      return;
    }
    const backoffMs = known ? Math.min(known.backoffMs * 2, TEMPLATE_LIST_MAX_BACKOFF_MS) : TEMPLATE_LIST_BACKOFF_MS;
    this.outage = { until: now + backoffMs, backoffMs, error };
  }

  private remember(name: string, entry: Entry): void {
    this.entries.delete(name);
    if (this.entries.size >= MAX_NAMES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(name, entry);
  }
}

function categoryAmong(name: string, listings: TemplateListing[]): string | null {
  const categories = listings
    .filter((listing) => listing.name === name)
    .map((listing) => (listing.category ?? '').toUpperCase());
  if (categories.length === 0) return null;
  if (categories.includes(MARKETING)) return MARKETING;
  return categories.find((category) => category.length > 0) ?? '';
}

export const MARKETING = 'MARKETING';
