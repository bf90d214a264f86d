/**
 * How long Meta asks a rate-limited caller to wait, read from a failed answer's headers.
 *
 * - `X-Business-Use-Case-Usage` (Graph API business use case limits; WhatsApp's WABA limit answers 80007):
 *   `{"<business id>": [{"type": "whatsapp_business_management", "call_count": 100, ...,
 *   "estimated_time_to_regain_access": 19}]}`, the wait in minutes
 *   (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
 * - `Retry-After` (RFC 9110, section 10.2.3): seconds or an HTTP date; proxies and gateways send it.
 *
 * The longest wait named wins. A header that cannot be read names no wait: the retry policy's own backoff applies.
 */

/** Longer than any documented Graph API block (one hour for app limits, 24 h for page limits): a misread. */
const LONGEST_WAIT_MS = 24 * 60 * 60 * 1000;

export type HeaderValue = string | string[] | number | undefined | null;

export function waitHintMs(headers: Record<string, HeaderValue>, now: number): number | undefined {
  const waits = [
    businessUseCaseWait(header(headers, 'x-business-use-case-usage')),
    retryAfterWait(header(headers, 'retry-after'), now),
  ];
  const named = waits.filter((ms): ms is number => ms !== undefined && ms > 0);
  return named.length > 0 ? Math.min(LONGEST_WAIT_MS, Math.max(...named)) : undefined;
}

function header(headers: Record<string, HeaderValue>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== name) continue;
    if (Array.isArray(value)) return value[0];
    return value === undefined || value === null ? undefined : String(value);
  }
  return undefined;
}

function businessUseCaseWait(text: string | undefined): number | undefined {
  if (!text) return undefined;
  let usage: unknown;
  try {
    usage = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof usage !== 'object' || usage === null) return undefined;
  let minutes = 0;
  for (const entries of Object.values(usage)) {
    if (!Array.isArray(entries)) continue;
    for (const entry of entries) {
      const value = (entry as { estimated_time_to_regain_access?: unknown } | null)?.estimated_time_to_regain_access;
      if (typeof value === 'number' && Number.isFinite(value) && value > minutes) minutes = value;
    }
  }
  return minutes > 0 ? minutes * 60_000 : undefined;
}

function retryAfterWait(text: string | undefined, now: number): number | undefined {
  if (!text) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? at - now : undefined;
}
