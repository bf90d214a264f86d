/**
 * When the person sent a message, in Unix milliseconds, from Meta's timestamp (whole seconds); one set by hand in
 * milliseconds is taken as such. Undefined when there is no usable time.
 */
export function metaTimeMs(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0) return undefined;
  const ms = timestamp > 1e11 ? Math.floor(timestamp) : Math.floor(timestamp * 1000);
  // A time no clock can hold is no time: the ledger would refuse it on every delivery Meta makes.
  return Number.isSafeInteger(ms) ? ms : undefined;
}
