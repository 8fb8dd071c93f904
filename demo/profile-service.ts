/**
 * A local "profile service" that can serve only a limited number of requests
 * at once: past `capacity` in flight it answers 503, like a real backend whose
 * connection pool is exhausted. Run as a child process by demo/migration.ts.
 *
 *   GET /users/:id   -> 200 {"id":..,"name":..} after `latencyMs`, or 503 when saturated
 *   GET /stats       -> {"peakInFlight":..,"served":..,"rejected":..}
 *   POST /reset      -> zero the counters
 */
import http from 'node:http';

const capacity = Number(process.env.CAPACITY ?? 50);
const latencyMs = Number(process.env.LATENCY_MS ?? 2);

let inFlight = 0;
let peakInFlight = 0;
let served = 0;
let rejected = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ peakInFlight, served, rejected }));
    return;
  }
  if (req.url === '/reset') {
    peakInFlight = 0;
    served = 0;
    rejected = 0;
    res.end();
    return;
  }
  inFlight++;
  peakInFlight = Math.max(peakInFlight, inFlight);
  if (inFlight > capacity) {
    inFlight--;
    rejected++;
    res.statusCode = 503;
    res.setHeader('retry-after', '1');
    res.end('overloaded');
    return;
  }
  const id = req.url?.split('/')[2] ?? '0';
  setTimeout(() => {
    inFlight--;
    served++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: Number(id), name: `user-${id}`, plan: Number(id) % 3 === 0 ? 'pro' : 'free' }));
  }, latencyMs);
});

server.keepAliveTimeout = 5000;
server.maxConnections = 0; // no cap: the point is to show what an unbounded client does
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
// The demo kills or disconnects us when it is done; do not wait for stalled clients.
process.on('disconnect', () => process.exit(0));
