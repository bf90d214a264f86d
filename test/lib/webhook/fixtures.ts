import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// The build copies no JSON: compiled tests read the fixtures from the source tree beside the build folder.
const FIXTURES = [
  path.join(__dirname, 'fixtures'),
  path.resolve(__dirname, '..', '..', '..', '..', 'test', 'lib', 'webhook', 'fixtures'),
].find((dir) => existsSync(path.join(dir, 'text.json')));

/** The fixture's bytes exactly as stored (UTF-8), as Meta would put them on the wire. */
export function fixtureBytes(name: string): Buffer {
  if (!FIXTURES) throw new Error('webhook fixtures not found');
  return readFileSync(path.join(FIXTURES, `${name}.json`));
}

export function fixture(name: string): WebhookBody {
  return JSON.parse(fixtureBytes(name).toString('utf8'));
}

type Item = Record<string, unknown>;

/** Meta's envelope, loosely typed so that tests can bend a documented payload into an odd one. */
export interface WebhookBody {
  object: string;
  entry: Array<{
    id: string;
    changes: Array<{
      field: string;
      value: Item & {
        metadata?: Item;
        contacts: Item[];
        messages: Item[];
        statuses: Item[];
        user_preferences: Item[];
      };
    }>;
  }>;
}
