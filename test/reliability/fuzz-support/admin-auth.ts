import { createRequire } from 'node:module';
import path from 'node:path';
import { RealNodeRed, type RealNodeRedOptions, redJsPath } from '../../helpers/real-node-red';

export const PASSWORD = 'pass-for-tests';

export interface AdminUser {
  username: string;
  /** Node-RED permissions: '*', 'read', or a list of scopes. */
  permissions: string | string[];
}

/** The users the reliability tests log in as: an admin, a read-only member of staff, and one without our scopes. */
export const USERS: readonly AdminUser[] = [
  { username: 'admin', permissions: '*' },
  { username: 'viewer', permissions: 'read' },
  { username: 'outsider', permissions: ['flows.read'] },
];

/** bcrypt from the Node-RED under test, as `node-red admin hash-pw` does. */
function hash(password: string): string {
  const requireFromRed = createRequire(path.join(path.dirname(redJsPath()), 'package.json'));
  const bcrypt = requireFromRed('bcryptjs') as { hashSync(password: string, rounds: number): string };
  return bcrypt.hashSync(password, 8);
}

/** A real Node-RED with adminAuth (credentials strategy) for USERS, all with PASSWORD. */
export function startWithAdminAuth(
  options: RealNodeRedOptions & { adminAuthExtra?: string } = {},
): Promise<RealNodeRed> {
  const { adminAuthExtra, ...rest } = options;
  const hashed = hash(PASSWORD);
  const users = USERS.map((user) => ({ ...user, password: hashed }));
  const extra = adminAuthExtra ? `, ${adminAuthExtra}` : '';
  return RealNodeRed.start({
    ...rest,
    settingsOverrides: `{ adminAuth: { type: 'credentials', users: ${JSON.stringify(users)}${extra} } }`,
  });
}

/** A bearer token for `user`, asking for all of its permissions. */
export async function tokenFor(red: RealNodeRed, user: AdminUser): Promise<string> {
  const scope = Array.isArray(user.permissions) ? user.permissions.join(' ') : user.permissions;
  const answer = await red.request('POST', '/auth/token', {
    client_id: 'node-red-admin',
    grant_type: 'password',
    scope,
    username: user.username,
    password: PASSWORD,
  });
  if (answer.status !== 200) throw new Error(`no token for ${user.username}: ${answer.status} ${await answer.text()}`);
  return ((await answer.json()) as { access_token: string }).access_token;
}
