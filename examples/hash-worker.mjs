// The worker module of examples/password-hashing.ts: CPU-bound work off the main thread.
import { pbkdf2Sync, randomBytes } from 'node:crypto';

export function hash(password) {
  const salt = randomBytes(16);
  const key = pbkdf2Sync(password, salt, 200_000, 32, 'sha256');
  return `${salt.toString('hex')}:${key.toString('hex')}`;
}
