import helper from 'node-red-node-test-helper';

/**
 * The test helper bound to the Node-RED under test: the devDependency (Node-RED 4) by default,
 * or the one NODE_RED_PATH points at (CI's Node-RED 5 run on Node 24).
 */
const nodeRedPath = process.env.NODE_RED_PATH ?? require.resolve('node-red');
helper.init(nodeRedPath);

export { helper, nodeRedPath };
