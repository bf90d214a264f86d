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
/** A business account holds at most a few thousand templates; the memo never holds more names than this. */
const MAX_NAMES = 2000;

interface Entry {
  at: number;
  category: Promise<string | null>;
}

/**
 * The category Meta gives each template, looked up once per name and remembered for a while. Concurrent sends of
 * one template share one lookup; a failed lookup is not remembered, so the next send asks again.
 */
export class TemplateCategories {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly list: (name: string) => Promise<TemplateListing[]>,
    private readonly clock: Clock,
  ) {}

  /**
   * MARKETING when any language of the template is marketing (Meta categorises each language on its own, and the
   * stricter one decides); otherwise the category Meta names; null when Meta lists no template of that name.
   */
  categoryOf(name: string): Promise<string | null> {
    const now = this.clock.now();
    const known = this.entries.get(name);
    if (known && now - known.at < TEMPLATE_CATEGORY_MAX_AGE_MS) return known.category;
    const entry: Entry = { at: now, category: this.list(name).then((listings) => categoryAmong(name, listings)) };
    this.remember(name, entry);
    entry.category.then(
      (category) => {
        // A miss is remembered for a short time only (shifting its start so that it ages out sooner).
        if (category === null && this.entries.get(name) === entry) {
          entry.at = now - TEMPLATE_CATEGORY_MAX_AGE_MS + TEMPLATE_MISS_MAX_AGE_MS;
        }
      },
      () => {
        if (this.entries.get(name) === entry) this.entries.delete(name);
      },
    );
    return entry.category;
  }

  /** Forgets what was looked up for `name`: Meta reported that its category or status changed. */
  forget(name: string): void {
    this.entries.delete(name);
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
