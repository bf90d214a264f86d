import { randomBytes } from 'node:crypto';

/** A Graph API error response: HTTP status plus the JSON body Meta sends. */
export interface GraphErrorResponse {
  httpStatus: number;
  body: {
    error: {
      message: string;
      type: string;
      code: number;
      error_data?: { messaging_product: 'whatsapp'; details: string };
      error_subcode?: number;
      fbtrace_id: string;
    };
  };
}

/**
 * The Cloud API errors the sandbox plays, with the title Meta puts into `message` as "(#code) title" and the HTTP
 * status of Meta's error-code table (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes):
 * 190 is the only one answered with 401; the others are 400 Bad Request.
 */
export const SANDBOX_ERRORS = {
  accessToken: { code: 190, httpStatus: 401, title: 'Invalid OAuth access token - Cannot parse access token' },
  invalidParameter: { code: 100, httpStatus: 400, title: 'Invalid parameter' },
  throughput: { code: 130429, httpStatus: 400, title: 'Rate limit hit' },
  reEngagement: { code: 131047, httpStatus: 400, title: 'Re-engagement message' },
  pairRate: { code: 131056, httpStatus: 400, title: '(Business Account, Consumer Account) pair rate limit hit' },
} as const;

export type SandboxErrorKind = keyof typeof SANDBOX_ERRORS;

export function fbtraceId(): string {
  return randomBytes(8).toString('base64url').slice(0, 11);
}

/** Meta's WhatsApp error body: `error_data.details` says what exactly went wrong. */
export function whatsAppError(kind: SandboxErrorKind, details: string): GraphErrorResponse {
  const spec = SANDBOX_ERRORS[kind];
  // Graph prefixes the title with "(#code)" for every code but the OAuth one.
  const message = spec.code === 190 ? spec.title : `(#${spec.code}) ${spec.title}`;
  return {
    httpStatus: spec.httpStatus,
    body: {
      error: {
        message,
        type: 'OAuthException',
        code: spec.code,
        error_data: { messaging_product: 'whatsapp', details },
        fbtrace_id: fbtraceId(),
      },
    },
  };
}

/** What Graph answers for an object id it does not know (code 100, subcode 33, no error_data). */
export function unknownObjectError(method: string, objectId: string): GraphErrorResponse {
  return {
    httpStatus: 400,
    body: {
      error: {
        message:
          `Unsupported ${method.toLowerCase()} request. Object with ID '${objectId}' does not exist, cannot be loaded ` +
          'due to missing permissions, or does not support this operation. Please read the Graph API documentation ' +
          'at https://developers.facebook.com/docs/graph-api',
        type: 'GraphMethodException',
        code: 100,
        error_subcode: 33,
        fbtrace_id: fbtraceId(),
      },
    },
  };
}
