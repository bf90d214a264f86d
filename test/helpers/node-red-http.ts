import type { Express } from 'express';
import type { NodeAPI } from 'node-red';
import { helper } from './node-red';

/**
 * Reaching RED.httpNode routes over real sockets with node-red-node-test-helper 0.3.6:
 * - `helper.request()` is supertest bound to the helper's admin app only (`helper._httpAdmin`, which
 *   runs bodyParser.json like Node-RED's editor API);
 * - `helper.startServer()` listens on an ephemeral port (`helper.url()`) and hands every request to
 *   `helper._app`, an express app with nothing mounted on it;
 * - every `helper.load()` creates a new, unmounted express app as RED.httpNode (mockRuntime.nodeApp).
 * So node routes are unreachable until something mounts them. `mountHttpApps()` returns an extra
 * initialiser for `helper.load([...nodes, mountHttpApps()], flow)`: it runs before the flows start
 * and mounts RED.httpAdmin and then RED.httpNode at "/" of `helper._app`, the way Node-RED's default
 * settings mount them (admin app first, so it parses JSON bodies before node routes see them). After
 * that `helper.url() + path` reaches the routes, and RED.server.address().port is that same port.
 * Call `helper.startServer()` before every load and `helper.stopServer()` after it, so each test gets
 * a fresh `helper._app`.
 */
export interface MountedApps {
  /** RED.httpNode of the last load, for looking at its route stack. */
  httpNode?: Express;
  httpAdmin?: Express;
}

export function mountHttpApps(mounted: MountedApps = {}): ((RED: NodeAPI) => void) & { mounted: MountedApps } {
  const init = (RED: NodeAPI) => {
    const app = (helper as unknown as { _app?: Express })._app;
    if (!app) throw new Error('helper.startServer() must run before helper.load()');
    app.use(RED.httpAdmin);
    app.use(RED.httpNode);
    mounted.httpNode = RED.httpNode;
    mounted.httpAdmin = RED.httpAdmin;
  };
  return Object.assign(init, { mounted });
}

/** Routes on an express app whose path is `path` (the layers a redeploy must not stack). */
export function routesAt(app: Express, path: string): { path: string; methods: string[] }[] {
  const holder = app as unknown as { _router?: { stack: RouteLayer[] }; router?: { stack: RouteLayer[] } };
  const stack = holder._router?.stack ?? [];
  return stack
    .filter((layer) => layer.route?.path === path)
    .map((layer) => ({ path: layer.route!.path, methods: Object.keys(layer.route!.methods ?? {}) }));
}

interface RouteLayer {
  route?: { path: string; methods?: Record<string, boolean> };
}
