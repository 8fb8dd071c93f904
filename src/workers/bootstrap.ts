/**
 * The code every worker thread runs (evaluated, so it needs no file of its
 * own in the package): load the user's module once, then answer
 * `{ id, name, data }` messages by calling the named export. Internal.
 *
 * The first message is `{ url, heap }`: the module to load, and whether to
 * report heap use after each task.
 */
export const BOOTSTRAP = `
'use strict';
// Written to run both as a script and as a module (a parent started with
// --input-type=module passes that flag on to its workers): no require().
let url;
let reportHeap = false;
let loading;
function pick(mod, name) {
  const found = name === 'default'
    ? [mod.default, mod.default && mod.default.default]
    : [mod[name], mod.default && mod.default[name]];
  for (const candidate of found) if (typeof candidate === 'function') return candidate;
  throw new TypeError('The worker module ' + url + ' exports no function ' + JSON.stringify(name));
}
import('node:worker_threads').then(({ parentPort }) => {
  async function run(id, name, data) {
    let reply;
    try {
      loading = loading || import(url);
      const fn = pick(await loading, name);
      reply = { id, ok: true, result: await fn(data) };
    } catch (error) {
      reply = { id, ok: false, error };
    }
    if (reportHeap) reply.heap = process.memoryUsage().heapUsed;
    try {
      parentPort.postMessage(reply);
    } catch (error) {
      parentPort.postMessage({ id, ok: false, error: new Error('The task result could not be sent back: ' + error.message) });
    }
  }
  parentPort.on('message', (message) => {
    if (url === undefined) {
      url = message.url;
      reportHeap = message.heap;
      return;
    }
    run(message.id, message.name, message.data);
  });
});
`;
