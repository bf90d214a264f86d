import path from 'node:path';
import helper from 'node-red-node-test-helper';

/**
 * The test helper bound to the Node-RED under test: the devDependency (Node-RED 4) by default,
 * or the package folder NODE_RED_PATH points at (CI's Node-RED 5 run on Node 24).
 */
const nodeRedPath = require.resolve(process.env.NODE_RED_PATH ?? 'node-red');
/** The node-red package folder (holds red.js, for tests that start a real Node-RED process). */
const nodeRedDir = path.dirname(require.resolve(path.join(process.env.NODE_RED_PATH ?? 'node-red', 'package.json')));
helper.init(nodeRedPath);

/** One of Node-RED's own core nodes (`function/10-function.js`), from the Node-RED under test. */
function coreNode(file: string): unknown {
  return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
}

export { coreNode, helper, nodeRedDir, nodeRedPath };
