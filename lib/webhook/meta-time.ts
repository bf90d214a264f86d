/**
 * When the person sent a message, in Unix milliseconds, from Meta's timestamp (whole seconds); one set by hand in
 * milliseconds is taken as such. Undefined when there is no usable time.
 */
export function metaTimeMs(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0) return undefined;
  return timestamp > 1e11 ? Math.floor(timestamp) : Math.floor(timestamp * 1000);
}
