/**
 * One run of the user sync, in its own process (so its memory is its own):
 * fetch each profile from the service, upsert it into an in-memory table.
 * Started by demo/migration.ts with VARIANT=naive|limit; reports progress and
 * the final figures over IPC.
 */
import http from 'node:http';
import { limit } from '../src/index.js';

const port = Number(process.env.PORT);
const total = Number(process.env.IDS);
const k = Number(process.env.K);
const variant = process.env.VARIANT;

const agent = new http.Agent({ keepAlive: true });
const table = new Map<number, { id: number; name: string; plan: string }>();
let failed = 0;
const errors = new Map<string, number>();

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// The code being migrated: correct, and unbounded when called from Promise.all.
async function syncUser(id: number): Promise<void> {
  try {
    const { status, body } = await get(`/users/${id}`);
    if (status !== 200) throw new Error(`HTTP ${status}`);
    const profile = JSON.parse(body) as { id: number; name: string; plan: string };
    table.set(profile.id, profile); // the upsert
  } catch (error) {
    failed++;
    const key = (error as { code?: string }).code ?? (error as Error).message;
    errors.set(key, (errors.get(key) ?? 0) + 1);
  }
}

const report = (final: boolean) =>
  process.send?.({
    final,
    upserted: table.size,
    failed,
    errors: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 3),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  });
const progress = setInterval(() => report(false), 200);

const ids = Array.from({ length: total }, (_, i) => i + 1);
if (variant === 'naive') {
  await Promise.all(ids.map(syncUser));
} else {
  const limited = limit(k);
  await limited.map(ids, syncUser);
}
clearInterval(progress);
report(true);
agent.destroy();
process.disconnect?.();
