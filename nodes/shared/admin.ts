import type { NextFunction, Request, Response } from 'express';
import type { NodeAPI } from 'node-red';

/**
 * Admin HTTP endpoints of this package live under one prefix on RED.httpAdmin and are guarded with
 * Node-RED permissions of their own, so a deployment's adminAuth can grant staff read access to the
 * sandbox chat or the connection check without granting flow editing (GDPR Art. 32: access only
 * for authorised staff).
 */
export const ADMIN_PREFIX = '/whatsapp-gdpr';
export const PERMISSION_READ = 'whatsapp-gdpr.read';
export const PERMISSION_WRITE = 'whatsapp-gdpr.write';
export const SANDBOX_CHAT_PATH = `${ADMIN_PREFIX}/sandbox`;

/**
 * RED.auth.needsPermission with HTTP's meaning of the answers: 401 when nobody is logged in (anonymous visitors
 * included), 403 when a logged-in user lacks the permission. Node-RED answers 401 in both cases, which tells a read-only member of
 * staff to log in again instead of saying that the account may not do this (issue 7).
 */
export function needsPermission(
  RED: NodeAPI,
  permission: string,
): (req: Request, res: Response, next: NextFunction) => void {
  const check = RED.auth.needsPermission(permission);
  return (req, res, next) => {
    const status = res.status;
    res.status = function (this: Response, code: number) {
      // adminAuth's default permissions make a visitor who is not logged in an anonymous user: logging in may help.
      const user = (req as { user?: { anonymous?: boolean } }).user;
      return status.call(this, code === 401 && user && !user.anonymous ? 403 : code);
    } as Response['status'];
    check(req, res, (err?: unknown) => {
      res.status = status;
      next(err);
    });
  };
}
