/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order at every depth, no whitespace,
 * `undefined` members dropped, arrays kept in order; otherwise exactly JSON.stringify. The audit
 * hash is computed over this form so that anyone can recompute it with a few lines in any language.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) sorted[key] = sortKeys(member);
  }
  return sorted;
}
