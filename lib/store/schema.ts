export type Dialect = 'sqlite' | 'postgres';

/** A record that ended. Written the same in the index and the queries, so that both planners use the index. */
/** A number-change audit event (ConsentLedger.numberChanged): a literal, so that the partial index serves queries. */
export const NUMBER_CHANGE_EVENT = "action = 'subject.number-changed'";

export const ENDED = `status IN ('refused', 'expired', 'withdrawn')`;
/** A record that stands: a given consent or a request (lib/consent/rules.ts ACTIVE_STATUSES). */
export const STANDING = `status IN ('given', 'pending')`;
/** A record that still carries encrypted message ids or texts, or a source. */
export const HOLDS_PROOF = `(request_message_id_enc IS NOT NULL OR confirmation_message_id_enc IS NOT NULL
  OR confirmation_text_enc IS NOT NULL OR withdrawal_message_id_enc IS NOT NULL OR withdrawal_text_enc IS NOT NULL
  OR source IS NOT NULL OR source_enc IS NOT NULL)`;
/** Clears what HOLDS_PROOF looks for. */
export const CLEAR_PROOF = `request_message_id_enc = NULL, confirmation_message_id_enc = NULL,
  confirmation_text_enc = NULL, withdrawal_message_id_enc = NULL, withdrawal_text_enc = NULL,
  source = NULL, source_enc = NULL`;

/**
 * Forward-only migrations; `schema_version` records each applied version. Never edit a released
 * migration: add the next one. Both dialects get the same tables, columns and constraints.
 */
export function migrations(dialect: Dialect): { version: number; statements: string[] }[] {
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  const autoId = dialect === 'sqlite' ? 'id INTEGER PRIMARY KEY' : 'id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const statuses = `'pending', 'given', 'refused', 'expired', 'withdrawn'`;
  const consentColumns = `
    pseudonym TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (${statuses})),
    expires_at ${int},
    purpose_version TEXT NOT NULL,
    wording_sha256 TEXT NOT NULL REFERENCES wordings (sha256),
    language TEXT,
    notice_version TEXT,
    lawful_basis TEXT NOT NULL,
    method TEXT NOT NULL,
    source TEXT,
    requested_at ${int},
    request_message_id_enc TEXT,
    decided_at ${int},
    confirmation_message_id_enc TEXT,
    confirmation_text_enc TEXT,
    withdrawn_at ${int},
    withdrawal_channel TEXT,
    withdrawal_message_id_enc TEXT,
    withdrawal_text_enc TEXT,
    withdrawal_keyword TEXT,
    last_used_at ${int},
    retain_until ${int} NOT NULL,
    updated_at ${int} NOT NULL,
    actor TEXT NOT NULL`;
  return [
    {
      version: 1,
      statements: [
        `CREATE TABLE subjects (
          pseudonym TEXT PRIMARY KEY,
          phone_enc TEXT,
          wa_id_enc TEXT,
          user_id_enc TEXT,
          name_enc TEXT,
          last_inbound_at ${int},
          created_at ${int} NOT NULL,
          updated_at ${int} NOT NULL)`,
        // A business-scoped user id (BSUID) seen together with a number points at the number's pseudonym.
        `CREATE TABLE subject_aliases (alias TEXT PRIMARY KEY, pseudonym TEXT NOT NULL)`,
        `CREATE INDEX subject_aliases_by_pseudonym ON subject_aliases (pseudonym)`,
        `CREATE TABLE wordings (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL)`,
        `CREATE TABLE purpose_versions (
          purpose TEXT NOT NULL,
          version TEXT NOT NULL,
          label TEXT NOT NULL,
          wording TEXT NOT NULL,
          lawful_basis TEXT NOT NULL,
          marketing ${int} NOT NULL,
          created_at ${int} NOT NULL,
          PRIMARY KEY (purpose, version))`,
        `CREATE TABLE consents (${consentColumns}, PRIMARY KEY (pseudonym, purpose))`,
        // Covering index: a consent check reads only this index, never the table.
        `CREATE INDEX consents_check ON consents (pseudonym, purpose, status, expires_at)`,
        `CREATE INDEX consents_pending ON consents (expires_at) WHERE status = 'pending'`,
        `CREATE INDEX consents_retention ON consents (retain_until)`,
        `CREATE TABLE consent_history (${autoId}, ${consentColumns}, archived_at ${int} NOT NULL)`,
        `CREATE INDEX consent_history_by_subject ON consent_history (pseudonym, purpose)`,
        `CREATE INDEX consent_history_retention ON consent_history (retain_until)`,
        `CREATE TABLE notices (
          pseudonym TEXT NOT NULL,
          notice_version TEXT NOT NULL,
          shown_at ${int} NOT NULL,
          message_id_enc TEXT,
          actor TEXT NOT NULL,
          PRIMARY KEY (pseudonym, notice_version))`,
        `CREATE INDEX notices_by_time ON notices (shown_at)`,
        `CREATE TABLE suppressions (pseudonym TEXT PRIMARY KEY, erased_at ${int} NOT NULL, actor TEXT NOT NULL)`,
        `CREATE TABLE dedupe_marks (key TEXT PRIMARY KEY, expires_at ${int} NOT NULL)`,
        `CREATE INDEX dedupe_marks_expiry ON dedupe_marks (expires_at)`,
        `CREATE TABLE audit (
          seq ${int} PRIMARY KEY,
          at ${int} NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          pseudonym TEXT,
          purpose TEXT,
          outcome TEXT NOT NULL,
          detail TEXT,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL UNIQUE)`,
        `CREATE INDEX audit_by_pseudonym ON audit (pseudonym)`,
        `CREATE INDEX audit_by_time ON audit (at)`,
        // Where the chain continues after retention removed its oldest events.
        // Append-only: the chain already detects edits; the trigger stops honest mistakes early.
        ...(dialect === 'sqlite'
          ? [
              `CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END`,
            ]
          : [
              `CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$`,
              `CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()`,
            ]),
        `CREATE TABLE audit_anchor (id ${int} PRIMARY KEY CHECK (id = 1), seq ${int} NOT NULL, hash TEXT NOT NULL)`,
      ],
    },
    {
      version: 2,
      statements: [
        // Two-phase de-duplication: a webhook item is claimed (completed = 0, expires_at = end of the lease)
        // before the flow handles it and completed only after. Marks written before this version count as done.
        `ALTER TABLE dedupe_marks ADD COLUMN completed INTEGER NOT NULL DEFAULT 1`,
      ],
    },
    {
      version: 3,
      statements: [
        // Where a consent was collected comes from the opt-in form as free text, so it is encrypted like the other
        // personal fields. Rows written before keep their plain `source` until the retention sweep clears it.
        `ALTER TABLE consents ADD COLUMN source_enc TEXT`,
        `ALTER TABLE consent_history ADD COLUMN source_enc TEXT`,
      ],
    },
    {
      version: 4,
      statements: [
        // A keyed check of the pseudonym key the database is filled under (ConsentLedger checks it at open).
        `CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), pseudonym_check TEXT NOT NULL)`,
      ],
    },
    {
      version: 5,
      statements: [
        // The ended records that still carry personal proof (stripEndedProof): the index shrinks as they are cleared.
        `CREATE INDEX consents_ended_proof ON consents (updated_at) WHERE ${ENDED} AND ${HOLDS_PROOF}`,
        `CREATE INDEX consent_history_proof ON consent_history (archived_at) WHERE ${HOLDS_PROOF}`,
      ],
    },
    {
      version: 6,
      statements: [
        // The few number-change events among all audit events: an erasure follows a person back through them.
        `CREATE INDEX audit_number_changes ON audit (seq) WHERE ${NUMBER_CHANGE_EVENT}`,
      ],
    },
    {
      version: 7,
      statements: [
        // The keyed hash of the message that carried a notice: a status webhook reporting it failed finds the notice.
        `ALTER TABLE notices ADD COLUMN message_ref TEXT`,
        `CREATE INDEX notices_by_message ON notices (message_ref) WHERE message_ref IS NOT NULL`,
      ],
    },
    {
      version: 8,
      statements: [
        // Each showing of a notice is its own row: the next holder of a number seeing the same version no longer
        // overwrites the proof that the previous holder saw it.
        `CREATE TABLE notice_showings (
          ${autoId},
          pseudonym TEXT NOT NULL,
          notice_version TEXT NOT NULL,
          shown_at ${int} NOT NULL,
          message_id_enc TEXT,
          message_ref TEXT,
          actor TEXT NOT NULL)`,
        `INSERT INTO notice_showings (pseudonym, notice_version, shown_at, message_id_enc, message_ref, actor)
          SELECT pseudonym, notice_version, shown_at, message_id_enc, message_ref, actor FROM notices ORDER BY shown_at`,
        `DROP TABLE notices`,
        `ALTER TABLE notice_showings RENAME TO notices`,
        // PostgreSQL keeps the old name on the key and the id sequence: the same names as a new table would have.
        ...(dialect === 'postgres'
          ? [
              `ALTER TABLE notices RENAME CONSTRAINT notice_showings_pkey TO notices_pkey`,
              `ALTER SEQUENCE notice_showings_id_seq RENAME TO notices_id_seq`,
            ]
          : []),
        `CREATE INDEX notices_by_subject ON notices (pseudonym, notice_version)`,
        `CREATE INDEX notices_by_time ON notices (shown_at)`,
        `CREATE INDEX notices_by_message ON notices (message_ref) WHERE message_ref IS NOT NULL`,
      ],
    },
    {
      version: 9,
      statements: [
        // The ledger's events, written in the transaction of the change that caused them, for consent-events to
        // deliver at least once (a crash after the commit, a redeploy, another instance's changes). Kept only while
        // a consumer has not taken them. Ids never come back (AUTOINCREMENT; an identity column): a consumer's
        // cursor must not meet an id twice. `contact_enc` is the number and user id, kept only while a consumer
        // includes them; an erasure's own event keeps it until taken (Art. 19), then the store is scrubbed.
        `CREATE TABLE event_outbox (
          ${dialect === 'sqlite' ? 'id INTEGER PRIMARY KEY AUTOINCREMENT' : 'id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY'},
          at ${int} NOT NULL,
          pseudonym TEXT NOT NULL,
          type TEXT NOT NULL,
          event TEXT NOT NULL,
          contact_enc TEXT)`,
        `CREATE INDEX event_outbox_by_subject ON event_outbox (pseudonym)`,
        `CREATE INDEX event_outbox_by_time ON event_outbox (at)`,
        // Each consumer's place in the outbox, and which of its copies (instances) delivers now, until held_until.
        // read_id: the newest event handed to the holder; it cannot acknowledge past what it was given.
        `CREATE TABLE event_cursors (
          consumer TEXT PRIMARY KEY,
          last_id ${int} NOT NULL,
          read_id ${int} NOT NULL,
          with_contact INTEGER NOT NULL,
          holder TEXT,
          held_until ${int} NOT NULL,
          updated_at ${int} NOT NULL)`,
      ],
    },
    {
      version: 10,
      statements: [
        // When each purpose was last in a store's settings (every open and sweep of every instance writes it), or, for
        // one already gone when this version came, when a sweep or open first found it missing: the given and pending
        // consents of a purpose taken out of the settings end a grace period after that (Art. 5(1)(e) GDPR).
        `CREATE TABLE purpose_presence (
          purpose TEXT PRIMARY KEY,
          configured_at ${int},
          missing_since ${int})`,
        // The standing consents of one purpose: counted and ended when the purpose was taken out of the settings.
        `CREATE INDEX consents_standing_by_purpose ON consents (purpose) WHERE ${STANDING}`,
      ],
    },
    {
      version: 11,
      statements: [
        // The double opt-in's proof of which request was answered how (Art. 7(1) GDPR): the request's own id, when
        // and from which business number (Meta's phone number id) its message went, and whether a button, a keyword
        // or a link answered it, with the button payload or keyword matched. None of it is personal data: kept plain.
        // Records written before keep NULLs and are read as before.
        ...['consents', 'consent_history'].flatMap((table) => [
          `ALTER TABLE ${table} ADD COLUMN request_id TEXT`,
          `ALTER TABLE ${table} ADD COLUMN request_sent_at ${int}`,
          `ALTER TABLE ${table} ADD COLUMN request_phone_number_id TEXT`,
          `ALTER TABLE ${table} ADD COLUMN confirmation_via TEXT`,
          `ALTER TABLE ${table} ADD COLUMN confirmation_match TEXT`,
        ]),
      ],
    },
    {
      version: 12,
      statements: [
        // A request asked again is archived as ended, naming the request that replaced it: the history then shows no
        // second open request (Art. 15 GDPR access). A new status would need the CHECK constraints rebuilt (SQLite
        // cannot alter them) and every query that reads an unconfirmed request changed; an 'expired' row with an
        // expiry time already reads as one. Rows archived before keep NULL (and 'pending') and read as before.
        ...['consents', 'consent_history'].map(
          (table) => `ALTER TABLE ${table} ADD COLUMN replaced_by_request_id TEXT`,
        ),
      ],
    },
    {
      version: 13,
      statements: [
        // The retention sweep deletes a wording no record uses any more (a form's own text, where opt-in-flow accepts
        // any, would otherwise outlive the erasure of everyone who sent it): found through these, not a table scan.
        `CREATE INDEX consents_by_wording ON consents (wording_sha256)`,
        `CREATE INDEX consent_history_by_wording ON consent_history (wording_sha256)`,
      ],
    },
    {
      version: 14,
      statements: [
        // The inbound time before the last one, moved on in the same write: a reply that does not quote the request
        // answers it only when she wrote nothing else since it was made (confirmConsent), for a YES written after
        // another message may answer what the business asked about that (Art. 4(11) GDPR: unambiguous). Rows written
        // before keep NULL and read as before.
        `ALTER TABLE subjects ADD COLUMN previous_inbound_at ${int}`,
      ],
    },
    {
      version: 15,
      statements: [
        // The time of her message that made a request (a keyword or button of hers; Meta's clock): a typed YES answers
        // it only when she wrote nothing else after that message, compared in Meta's clock alone. Without it, a message
        // within half a minute of the request did not count, as the clocks differ (a question typed right after
        // ANMELDEN, answered „ja“ by her, confirmed the sign-up). Rows written before keep NULL and read as before.
        ...['consents', 'consent_history'].map((table) => `ALTER TABLE ${table} ADD COLUMN request_inbound_at ${int}`),
      ],
    },
  ];
}

export const SCHEMA_VERSION_TABLE = `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`;
