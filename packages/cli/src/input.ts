// Reading items from a file or stdin, streamed: the source is pulled a chunk at
// a time, so memory holds one chunk and whatever the runner keeps in flight.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Item, Malformed } from './Item.js';

export type Format = 'lines' | 'ndjson' | 'csv';

/** What the reader hands the runner: items and lines it could not read, in input order. */
export type Entry = Item | Malformed;

export function isMalformed(entry: Entry): entry is Malformed {
  return (entry as Malformed).error !== undefined;
}

/** The format a file name suggests: `.ndjson`/`.jsonl` -> ndjson, `.csv` -> csv, else lines. */
export function formatOf(file: string | undefined): Format {
  if (file === undefined) return 'lines';
  if (/\.(ndjson|jsonl)$/i.test(file)) return 'ndjson';
  if (/\.csv$/i.test(file)) return 'csv';
  return 'lines';
}

/**
 * Open the input: a file path, or stdin for `-` / none. A chunk becomes one batch
 * of items, so the chunk size bounds the read-ahead held in memory.
 */
export function openInput(file: string | undefined): Readable {
  return file === undefined || file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 256 * 1024 });
}

/** Batches of entries, in input order; blank lines are not items. */
export function readEntries(stream: Readable, format: Format): AsyncIterable<Entry[]> {
  return format === 'csv' ? readCsv(stream) : readLines(stream, format === 'ndjson');
}

async function* readLines(stream: Readable, json: boolean): AsyncIterable<Entry[]> {
  stream.setEncoding('utf8');
  let rest = '';
  let line = 0;
  let n = 0;
  const entry = (text: string): Entry | undefined => {
    line++;
    const raw = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (raw.trim() === '') return undefined;
    if (!json) return { n: ++n, line, raw, value: raw };
    try {
      return { n: ++n, line, raw, value: JSON.parse(raw) };
    } catch (error) {
      n--;
      return { line, raw, error: `invalid JSON: ${(error as Error).message}` };
    }
  };
  for await (const chunk of stream) {
    const text = rest + (chunk as string);
    const batch: Entry[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const e = entry(text.slice(start, end));
      if (e !== undefined) batch.push(e);
      start = end + 1;
    }
    rest = text.slice(start);
    if (batch.length > 0) yield batch;
  }
  const e = rest === '' ? undefined : entry(rest);
  if (e !== undefined) yield [e];
}

interface CsvRow {
  readonly record: Record<string, string>;
  readonly raw: string;
  readonly info: { readonly lines: number };
}

async function* readCsv(stream: Readable): AsyncIterable<Entry[]> {
  const { parse } = await import('csv-parse');
  const skipped: Malformed[] = [];
  const parser = stream.pipe(
    parse({
      columns: true,
      bom: true,
      info: true,
      raw: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
    }),
  );
  parser.on('skip', (error: Error & { lines?: number; raw?: string }) => {
    skipped.push({ line: error.lines ?? 0, raw: error.raw ?? '', error: `invalid CSV: ${error.message}` });
  });
  let n = 0;
  let batch: Entry[] = [];
  for await (const row of parser as AsyncIterable<CsvRow>) {
    if (skipped.length > 0) batch.push(...skipped.splice(0));
    batch.push({ n: ++n, line: row.info.lines, raw: row.raw.replace(/\r?\n$/, ''), value: row.record });
    if (batch.length >= 256 || parser.readableLength === 0) {
      yield batch;
      batch = [];
    }
  }
  batch.push(...skipped.splice(0));
  if (batch.length > 0) yield batch;
}

/** Lines in a file, counted while the run goes on (for the progress total). */
export async function countLines(file: string, signal: AbortSignal): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal })) {
    const buffer = chunk as Buffer;
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines++;
    if (buffer.length > 0) last = buffer[buffer.length - 1] as number;
  }
  return last === 10 ? lines : lines + 1;
}
