import type { Express } from 'express';

type Handler = (...args: never[]) => unknown;
interface Layer {
  handle: Handler;
  route?: { path: string; stack: Layer[] };
}
interface RouterHolder {
  _router?: { stack: Layer[] };
  router?: { stack: Layer[] };
  parent?: Express;
}

/** The app's middleware/route stack: `_router` in Express 4, `router` in Express 5. */
export function routerStack(app: Express): Layer[] {
  const holder = app as unknown as RouterHolder;
  if (holder._router) return holder._router.stack;
  try {
    // Express 4 throws on `app.router` ("deprecated"); Express 5 creates the router lazily.
    return holder.router?.stack ?? [];
  } catch {
    return [];
  }
}

/** The top-level app this one is mounted on (Node-RED mounts httpAdmin and httpNode on one root app). */
export function rootAppOf(app: Express): Express {
  let current = app;
  let parent = (current as unknown as RouterHolder).parent;
  while (parent) {
    current = parent;
    parent = (current as unknown as RouterHolder).parent;
  }
  return current;
}

/**
 * Removes every route one of whose handlers is in `handlers`. Node-RED keeps the same httpNode app
 * across deploys, so a node that does not remove its routes on close stacks them on redeploy.
 */
export function removeRoutes(app: Express, handlers: ReadonlySet<Handler>): number {
  const stack = routerStack(app);
  let removed = 0;
  for (let i = stack.length - 1; i >= 0; i--) {
    const route = stack[i].route;
    if (route?.stack.some((layer) => handlers.has(layer.handle))) {
      stack.splice(i, 1);
      removed++;
    }
  }
  return removed;
}

/** Moves a middleware to the front of an app's stack, so it runs before anything mounted earlier. */
export function moveToFront(app: Express, middleware: Handler): void {
  const stack = routerStack(app);
  const index = stack.findIndex((layer) => layer.handle === middleware);
  if (index > 0) stack.unshift(stack.splice(index, 1)[0]);
}

/** "/" + segments joined with single slashes, without a trailing slash (except for "/" itself). */
export function joinUrlPath(...parts: string[]): string {
  const joined = `/${parts.join('/')}`.replace(/\/{2,}/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}
