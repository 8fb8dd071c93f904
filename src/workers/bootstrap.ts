/**
 * The code every worker thread runs (evaluated, so it needs no file of its
 * own in the package): load the user's module once, then answer
 * `{ id, name, data }` messages by calling the named export. Internal.
 *
 * The first message is `{ url, heap, shared }`: the module to load, whether to
 * report heap use after each task, and the wake-up counter (a SharedArrayBuffer).
 */
export const BOOTSTRAP = `
'use strict';
// Written to run both as a script and as a module (a parent started with
// --input-type=module passes that flag on to its workers): no require().
let url;
let reportHeap = false;
let loading;
// With a shared counter, an idle worker sleeps in Atomics.wait and the pool
// wakes it directly (no trip through the event loop), then reads its messages
// with receiveMessageOnPort: the fastest round trip for short tasks.
let shared;
let seen = 0;
let running = 0;
function pick(mod, name) {
  const found = name === 'default'
    ? [mod.default, mod.default && mod.default.default]
    : [mod[name], mod.default && mod.default[name]];
  for (const candidate of found) if (typeof candidate === 'function') return candidate;
  throw new TypeError('The worker module ' + url + ' exports no function ' + JSON.stringify(name));
}
import('node:worker_threads').then(({ parentPort, receiveMessageOnPort }) => {
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
  function handle(message) {
    running++;
    run(message.id, message.name, message.data).then(() => {
      running--;
      if (running === 0 && shared !== undefined) sleep();
    });
  }
  function sleep() {
    while (running === 0) {
      Atomics.wait(shared, 0, seen);
      seen = Atomics.load(shared, 0);
      let entry;
      while ((entry = receiveMessageOnPort(parentPort)) !== undefined) handle(entry.message);
    }
  }
  parentPort.on('message', (message) => {
    if (url === undefined) {
      url = message.url;
      reportHeap = message.heap;
      if (message.shared !== undefined) {
        shared = new Int32Array(message.shared);
        seen = Atomics.load(shared, 0);
        setImmediate(() => {
          if (running === 0) sleep();
        });
      }
      return;
    }
    handle(message);
  });
});
`;
