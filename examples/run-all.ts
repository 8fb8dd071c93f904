// `npm run examples`: run every example in its own process; fail if any fails.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run-all.ts');
let failed = 0;
for (const file of files) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', new URL(file, dir).pathname], { encoding: 'utf8' });
  const ok = result.status === 0;
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} examples/${file}`);
  if (!ok) console.log(result.stdout, result.stderr);
}
process.exitCode = failed === 0 ? 0 : 1;
