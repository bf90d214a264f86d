import http from 'node:http';

export interface RawAnswer {
  status: number;
  body: string;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length), split into chunks of this size. */
  chunkSize?: number;
}

/**
 * One HTTP request over a real socket with exactly the given headers and bytes (fetch would normalise
 * or forbid some of them). A fresh connection each time, so a refused request cannot poison the next.
 */
export function rawRequest(url: string, request: RawRequest = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const body = request.body ?? Buffer.alloc(0);
    const headers: Record<string, string | string[] | number> = { ...(request.headers ?? {}) };
    const chunked = request.chunkSize !== undefined;
    if (!chunked && !hasHeader(headers, 'content-length')) headers['content-length'] = body.length;
    const req = http.request(url, { method: request.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (chunked) {
      const size = Math.max(1, request.chunkSize ?? 1);
      for (let offset = 0; offset < body.length; offset += size) req.write(body.subarray(offset, offset + size));
      req.end();
    } else {
      req.end(body);
    }
  });
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}
