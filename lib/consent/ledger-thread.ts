import { parentPort, workerData } from 'node:worker_threads';
import { ConsentLedger } from './ledger';
import {
  CLOSE,
  EVENT,
  FORWARDED_METHODS,
  POSTED_METHODS,
  READY,
  type ReadyInfo,
  serialiseError,
  type ThreadMessage,
  type ThreadRequest,
  WARNING,
} from './ledger-thread-protocol';
import type { LedgerOptions } from './types';

/** The thread of a ThreadedConsentLedger (threaded-ledger.ts): one ConsentLedger, answering in any order. */
async function serve(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  let ledger: ConsentLedger;
  try {
    ledger = await ConsentLedger.open(withBuffers(workerData.options as LedgerOptions));
  } catch (err) {
    port.postMessage([[READY, false, serialiseError(err)]]);
    port.close();
    return;
  }
  // Answers of one event-loop turn (a group commit resolves many) travel as one message.
  let outbox: ThreadMessage[] = [];
  const post = (message: ThreadMessage) => {
    if (outbox.length === 0) {
      setImmediate(() => {
        const messages = outbox;
        outbox = [];
        port.postMessage(messages);
      });
    }
    outbox.push(message);
  };
  ledger.on('event', (event) => post([EVENT, event]));
  ledger.on('warning', (err) => post([WARNING, serialiseError(err)]));
  const forwarded = new Set<string>(FORWARDED_METHODS);
  const posted = new Set<string>(POSTED_METHODS);
  const methods = ledger as unknown as Record<string, (...args: unknown[]) => unknown>;

  const handle = ([id, method, args]: ThreadRequest) => {
    if (posted.has(method)) {
      try {
        methods[method](...args);
      } catch (err) {
        post([WARNING, serialiseError(err)]);
      }
      return;
    }
    let answer: Promise<unknown>;
    if (forwarded.has(method)) answer = (async () => methods[method](...args))();
    else if (method === CLOSE) answer = ledger.close();
    else answer = Promise.reject(new Error(`Unknown ledger method ${method}`));
    answer.then(
      (result) => post([id, true, result]),
      (err: unknown) => post([id, false, serialiseError(err)]),
    );
    if (method === CLOSE) answer.finally(() => setImmediate(() => port.close())).catch(() => undefined);
  };
  port.on('message', (requests: ThreadRequest[]) => {
    for (const request of requests) handle(request);
  });
  const info: ReadyInfo = {
    purposes: ledger
      .purposeIds()
      .map((id) => ledger.purpose(id))
      .filter((p) => p !== undefined),
    backendDescription: ledger.backendDescription,
    retention: ledger.retention,
  };
  port.postMessage([[READY, true, info]]);
}

/** Keys arrive as Uint8Arrays (a structured clone of a Buffer); the ledger checks for Buffers. */
function withBuffers(options: LedgerOptions): LedgerOptions {
  const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    ...options,
    pseudonymKey: options.pseudonymKey && buffer(options.pseudonymKey),
    encryptionKeys: options.encryptionKeys?.map((k) => ({ ...k, key: k.key && buffer(k.key) })),
  };
}

void serve();
