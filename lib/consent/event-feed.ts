import { GdprWhatsAppError } from '../errors';
import type { LedgerStore, OutboxRow, StoreTx } from '../store/types';
import type { FieldCipher } from './keys';
import type { LedgerEvent } from './types';

/** How long a consumer's copy (one Node-RED instance) delivers alone before another may take over. */
export const EVENT_FEED_LEASE_MS = 30_000;

/**
 * Events no consumer took within this time go, and so does a consumer that took none for as long (a node removed from
 * the flows, whose place is kept meanwhile so that disabling it for a while loses nothing): an outbox nobody reads
 * must not keep numbers for ever.
 */
export const EVENT_FEED_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

const MAX_PAGE = 1000;
const CONTACT_FIELD = 'event_contact';

/** A ledger event as the feed delivers it: `id` rises with every event and names it to acknowledgeEvents. */
export type FeedEvent = LedgerEvent & { id: number };

/** One read of the feed: `held` when another copy of the consumer delivers now (this one waits). */
export interface FeedPage {
  held: boolean;
  /** The consumer's cursor the page was read from: every event up to this id was acknowledged (not when held). */
  after?: number;
  events: FeedEvent[];
  /** More events are waiting after these. */
  more: boolean;
}

export interface ReadEventsOptions {
  /** This copy of the consumer (one per Node-RED instance): only the lease's holder gets events. */
  holder: string;
  /** Number and user id of each event, while the ledger still holds them. */
  includeContact?: boolean;
  limit?: number;
}

/**
 * The transactional outbox behind consent-events: each change's events are written in the transaction of the
 * change, and a consumer takes them from its cursor and acknowledges them once delivered. A crash after the commit,
 * a redeploy of the consumer or a change made by another instance loses no event; one may come twice (at least
 * once), with the same id. Nothing is kept while no consumer is registered; what every consumer took is deleted.
 * Numbers are kept (encrypted) only while a consumer includes them, and only for events written since.
 */
export class EventFeed {
  constructor(
    private readonly store: LedgerStore,
    private readonly cipher: FieldCipher,
    private readonly clock: () => number,
    private readonly onWarning: (err: Error) => void,
  ) {}

  /** In the change's own transaction, after its work: its events, for the consumers there are. */
  async keep(tx: StoreTx, events: readonly LedgerEvent[]): Promise<void> {
    if (events.length === 0) return;
    const consumers = await tx.eventConsumers();
    if (!consumers.any) return;
    await tx.insertOutbox(events.map((event) => this.toRow(event, consumers.withContact)));
  }

  async read(consumer: string, options: ReadEventsOptions): Promise<FeedPage> {
    const name = requireName(consumer, 'consumer');
    const holder = requireName(options?.holder, 'holder');
    const withContact = options.includeContact === true;
    const limit = pageSize(options.limit);
    const now = this.clock();
    // Waits for the disk: an event read before its change reached the disk could be sent and then undone by a power
    // cut, its id going to another event that a receiver would then drop as a repeat.
    return this.store.write(
      async (tx) => {
        const cursor = await tx.takeEventCursor(name, holder, withContact, now, now + EVENT_FEED_LEASE_MS);
        if (cursor === undefined) return { held: true, events: [], more: false };
        const rows = await tx.outboxAfter(cursor, limit + 1);
        const page = rows.slice(0, limit);
        if (page.length > 0) await tx.noteEventsRead(name, holder, page[page.length - 1].id);
        return {
          held: false,
          after: cursor,
          events: page.map((row) => this.fromRow(row, withContact)),
          more: rows.length > limit,
        };
      },
      { serial: false },
    );
  }

  /** Everything up to `lastId` was delivered; false when `holder` no longer holds the consumer. */
  async acknowledge(consumer: string, options: { holder: string; lastId: number }): Promise<boolean> {
    const name = requireName(consumer, 'consumer');
    const holder = requireName(options?.holder, 'holder');
    const lastId = options.lastId;
    if (!Number.isSafeInteger(lastId) || lastId < 0) {
      throw new GdprWhatsAppError('invalid-input', 'lastId must be an event id', { field: 'lastId' });
    }
    const now = this.clock();
    // A lost acknowledgement (a power cut) only sends the events again.
    const { moved, goneContacts } = await this.store.write(
      async (tx) => {
        // Never past what this holder was given: a wrong id must not skip events still to come. (A late
        // acknowledgement of events that are gone already is no mistake: it leaves the cursor where it is.)
        const moved = await tx.advanceEventCursor(name, holder, lastId, now, now + EVENT_FEED_LEASE_MS);
        return { moved, goneContacts: moved ? (await tx.pruneOutbox()).goneContacts : 0 };
      },
      { serial: false, waitForDisk: false },
    );
    // An erasure's event, or a move's, carried a number the ledger no longer holds to the CRM; deleted now, it must
    // not linger in free pages.
    if (goneContacts > 0) {
      // The acknowledgement stands: a scrub that fails is a warning, as after an erasure.
      await this.store.scrub({ eventContacts: goneContacts }).catch((err: Error) => this.onWarning(err));
    }
    return moved;
  }

  /** Lets another copy of the consumer take over at once (a redeploy). */
  async release(consumer: string, options: { holder: string }): Promise<void> {
    const name = requireName(consumer, 'consumer');
    const holder = requireName(options?.holder, 'holder');
    await this.store.write((tx) => tx.releaseEventCursor(name, holder), { serial: false, waitForDisk: false });
  }

  private toRow(event: LedgerEvent, withContact: boolean): Omit<OutboxRow, 'id'> {
    const { phone, userId, newPhone, newUserId, ...kept } = event;
    const numbers = { phone, userId, newPhone, newUserId };
    const named = Object.values(numbers).some((value) => value !== undefined);
    const contact = withContact && named ? numbers : undefined;
    return {
      at: event.at,
      pseudonym: event.pseudonym,
      type: event.type,
      event: JSON.stringify(kept),
      contactEnc: contact ? this.cipher.encrypt(JSON.stringify(contact), CONTACT_FIELD, event.pseudonym) : null,
    };
  }

  private fromRow(row: OutboxRow, withContact: boolean): FeedEvent {
    const event = { ...(JSON.parse(row.event) as LedgerEvent), id: row.id };
    if (!withContact || row.contactEnc === null) return event;
    let contact: { phone?: unknown; userId?: unknown; newPhone?: unknown; newUserId?: unknown };
    try {
      contact = JSON.parse(this.cipher.decrypt(row.contactEnc, CONTACT_FIELD, row.pseudonym));
    } catch (err) {
      // Its key was removed from the store's keys: the event still goes, by pseudonym, rather than stop the feed.
      this.onWarning(err as Error);
      return event;
    }
    if (typeof contact.phone === 'string') event.phone = contact.phone;
    if (typeof contact.userId === 'string') event.userId = contact.userId;
    if (typeof contact.newPhone === 'string') event.newPhone = contact.newPhone;
    if (typeof contact.newUserId === 'string') event.newUserId = contact.newUserId;
    return event;
  }
}

/** A consumer or holder name: one line of at most 200 printable characters. */
function requireName(value: unknown, field: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new GdprWhatsAppError('invalid-input', `${field} must be a name of 1 to 200 printable characters`, { field });
  }
  return value;
}

function pageSize(limit: unknown): number {
  if (limit === undefined) return 100;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new GdprWhatsAppError('invalid-input', `limit must be a whole number from 1 to ${MAX_PAGE}`, {
      field: 'limit',
    });
  }
  return limit;
}
