// Durations and rates as people type them on a command line.
import { quoted, UsageError } from './UsageError.js';

const MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
};

/**
 * `500`, `500ms`, `2s`, `1.5m`, `1h` as milliseconds. A bare number is
 * milliseconds, as everywhere in sluice.
 */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(String(text).trim());
  const unit = match?.[2] || 'ms';
  const scale = MS[unit];
  if (match === null || scale === undefined) {
    throw new UsageError(`${flag} expects a duration like 500ms, 2s or 1m, got ${quoted(text)}`);
  }
  return Number(match[1]) * scale;
}

/** A rate: `limit` starts per `interval` ms. */
export interface Rate {
  readonly limit: number;
  readonly interval: number;
}

/** Rates as the library's limits: sliding windows, never more than `limit` starts in any `interval`. */
export function slidingWindows(
  rates: readonly Rate[],
): { limit: number; interval: number; algorithm: 'sliding-window' }[] {
  return rates.map((rate) => ({ limit: rate.limit, interval: rate.interval, algorithm: 'sliding-window' }));
}

/** `100/s`, `500/min`, `10/5s`, `3/h` as a {@link Rate}. */
export function parseRate(flag: string, text: string): Rate {
  const match = /^(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)$/.exec(String(text).trim());
  const scale = match === null ? undefined : MS[match[3] as string];
  const limit = match === null ? 0 : Number(match[1]);
  const count = match?.[2] === undefined ? 1 : Number(match[2]);
  if (match === null || scale === undefined || limit < 1 || !Number.isSafeInteger(limit) || count <= 0) {
    throw new UsageError(`${flag} expects a rate like 100/s, 500/min or 10/5s, got ${quoted(text)}`);
  }
  return { limit, interval: count * scale };
}

/** A whole number within bounds. */
export function parseCount(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(String(text).trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} expects a whole number >= ${min}, got ${quoted(text)}`);
  }
  return n;
}

/** `64k`, `1m`, `512` bytes. */
export function parseBytes(flag: string, text: string): number {
  const match = /^(\d+)\s*([kmg]?)i?b?$/i.exec(String(text).trim());
  if (match === null) throw new UsageError(`${flag} expects a size like 512, 64k or 1m, got ${quoted(text)}`);
  const unit = (match[2] as string).toLowerCase();
  return Number(match[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
