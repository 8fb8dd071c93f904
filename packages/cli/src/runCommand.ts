// `sluice run`: flags into a Runner, every flag checked before anything runs.
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { circuitBreaker, consecutiveFailures } from 'sluice';
import type { Action } from './Action.js';
import { CommandAction } from './CommandAction.js';
import { parseHalt } from './Halt.js';
import { countLines, type Format, formatOf, openInput } from './input.js';
import { Journal, type JournalMode } from './Journal.js';
import type { SharedLimits } from './Limits.js';
import { Pauses } from './Pauses.js';
import type { ProgressMode } from './Progress.js';
import type { RedisShare } from './RedisShare.js';
import { Failures, FileSink, Results } from './Results.js';
import { Runner } from './Runner.js';
import { compileTemplate, type Template } from './template.js';
import { quoted, UsageError } from './UsageError.js';
import { parseBytes, parseCount, parseDuration, parseRate } from './units.js';

/** The flags of `sluice run`, as commander hands them over. */
export interface RunFlags {
  input?: string;
  format?: Format;
  key?: string;
  concurrency?: string;
  maxConcurrency: string;
  rate: string[];
  perKey?: string;
  keyRate: string[];
  keyConcurrency?: string;
  retries: string;
  backoff: string;
  maxBackoff: string;
  retryBudget: string;
  timeout?: string;
  breaker?: string;
  breakerOpen: string;
  halt: string;
  redis?: string;
  job?: string;
  http?: string;
  header: string[];
  body?: string;
  shell: boolean;
  keepOrder: boolean;
  output?: string;
  failures: string;
  maxOutput: string;
  journal: string | false;
  resume: boolean;
  retryFailed: boolean;
  fresh: boolean;
  allowChanged: boolean;
  progress: ProgressMode;
  total?: string;
  dryRun: boolean;
  grace: string;
  killGrace: string;
}

export async function runCommand(command: readonly string[], flags: RunFlags): Promise<number> {
  const concurrency = parseConcurrency(flags);
  const maxConcurrency =
    concurrency === 'auto' ? parseCount('--max-concurrency', flags.maxConcurrency, 1) : concurrency;
  const action = await makeAction(command, flags, maxConcurrency);
  const format = flags.format ?? formatOf(flags.input);
  checkFields(action, format, flags);
  const key = flags.key === undefined ? undefined : keyTemplate(flags.key);
  const perKey = flags.perKey === undefined ? undefined : compileTemplate('--per-key', flags.perKey, 'raw');
  const keyRates = flags.keyRate.map((r) => parseRate('--key-rate', r));
  const keyConcurrency =
    flags.keyConcurrency === undefined ? undefined : parseCount('--key-concurrency', flags.keyConcurrency, 1);
  if (perKey === undefined && (keyRates.length > 0 || keyConcurrency !== undefined)) {
    throw new UsageError('--key-rate and --key-concurrency need --per-key (e.g. --per-key {host})');
  }
  const rates = flags.rate.map((r) => parseRate('--rate', r));
  const retries = parseCount('--retries', flags.retries, 0);
  const timeout = flags.timeout === undefined ? undefined : positive('--timeout', flags.timeout);
  const halt = parseHalt(flags.halt);
  const breaker =
    flags.breaker === undefined
      ? undefined
      : circuitBreaker({
          breaker: consecutiveFailures(parseCount('--breaker', flags.breaker, 1)),
          openDuration: positive('--breaker-open', flags.breakerOpen),
        });
  const settings = {
    backoff: {
      initial: parseDuration('--backoff', flags.backoff),
      max: parseDuration('--max-backoff', flags.maxBackoff),
    },
    retryBudget: flags.retryBudget === 'none' ? undefined : parseRatio('--retry-budget', flags.retryBudget),
    grace: parseDuration('--grace', flags.grace),
    total: flags.total === undefined ? undefined : parseCount('--total', flags.total, 0),
  };
  const mode = journalMode(flags);
  if (flags.input !== undefined && flags.input !== '-' && !existsSync(flags.input)) {
    throw new UsageError(`--input ${quoted(flags.input)}: no such file`);
  }
  let share: RedisShare | undefined;
  if (flags.redis !== undefined) {
    const { RedisShare } = await import('./RedisShare.js');
    share = await RedisShare.connect({
      url: flags.redis,
      job: flags.job ?? action.fingerprint,
      concurrency: concurrency === 'auto' ? undefined : concurrency,
      rates,
      keyRates,
    });
  }
  const pauses = new Pauses(share === undefined ? undefined : (scope, ms) => share.share(scope, ms));
  await share?.listen((scope, ms) => pauses.pause(scope, ms, true));
  const journal =
    flags.journal === false
      ? undefined
      : flags.dryRun
        ? undefined
        : await Journal.open(flags.journal, {
            mode,
            fingerprint: action.fingerprint,
            allowChanged: flags.allowChanged,
          });
  if (!flags.dryRun && mode !== 'resume' && mode !== 'retry-failed' && existsSync(flags.failures))
    unlinkSync(flags.failures);
  const resuming = mode === 'resume' || mode === 'retry-failed';
  if (!flags.dryRun && !resuming && existsSync(flags.failures)) unlinkSync(flags.failures);
  // A resumed run adds to the results of the runs before it.
  const out = flags.output === undefined ? process.stdout : new FileSink(flags.output, resuming);
  const counter = new AbortController();
  const runner = new Runner({
    action,
    input: openInput(flags.input),
    format,
    key,
    perKey,
    fallbackScope: action.scopeOf === undefined ? undefined : (item) => action.scopeOf?.(item),
    limits: {
      concurrency,
      maxConcurrency,
      rates,
      keyRates,
      keyConcurrency,
      shared: share as SharedLimits | undefined,
    },
    retries,
    backoff: settings.backoff,
    retryBudget: settings.retryBudget,
    timeout,
    breaker,
    halt,
    results: new Results(out, flags.keepOrder, (error) => runner.outputFailed(error)),
    failures: new Failures(flags.failures, resuming),
    journal,
    progress: flags.progress,
    total: settings.total ?? totalOf(flags, format, counter.signal),
    dryRun: flags.dryRun,
    grace: settings.grace,
    pauses,
    window: maxConcurrency + Math.max(16, Math.min(1024, maxConcurrency)),
    stderr: process.stderr,
  });
  try {
    return await runner.run();
  } finally {
    counter.abort();
    await share?.close();
  }
}

function parseConcurrency(flags: RunFlags): number | 'auto' {
  if (flags.concurrency === 'auto') return 'auto';
  if (flags.concurrency === undefined) return flags.http === undefined ? availableParallelism() : 16;
  return parseCount('--concurrency', flags.concurrency, 1);
}

async function makeAction(command: readonly string[], flags: RunFlags, connections: number): Promise<Action> {
  const maxOutput = parseBytes('--max-output', flags.maxOutput);
  if (flags.http !== undefined) {
    if (command.length > 0) {
      throw new UsageError(`--http sends a request per item; drop the command ${quoted(command.join(' '))} or --http`);
    }
    // undici loads only for HTTP runs (a command run starts faster without it).
    const { HttpAction } = await import('./HttpAction.js');
    return new HttpAction({ request: flags.http, headers: flags.header, body: flags.body, maxOutput, connections });
  }
  if (flags.header.length > 0 || flags.body !== undefined) throw new UsageError('--header and --body need --http');
  return new CommandAction({
    argv: command,
    shell: flags.shell,
    maxOutput,
    killGrace: parseDuration('--kill-grace', flags.killGrace),
  });
}

/** Fields need NDJSON or CSV items. */
function checkFields(action: Action, format: Format, flags: RunFlags): void {
  if (format !== 'lines') return;
  const fields = [...action.fields, ...(flags.key !== undefined ? keyTemplate(flags.key).fields : [])];
  if (fields.length > 0) {
    throw new UsageError(
      `{${fields[0]}} reads a field, but the input is read as lines: pass --format ndjson or --format csv (or use {})`,
    );
  }
}

/** `--key id` names a field; `--key '{a}/{b}'` is a template. */
function keyTemplate(text: string): Template {
  return compileTemplate('--key', text.includes('{') ? text : `{${text}}`, 'raw');
}

function journalMode(flags: RunFlags): JournalMode {
  const chosen = (['resume', 'retryFailed', 'fresh'] as const).filter((flag) => flags[flag]);
  if (chosen.length > 1) throw new UsageError('choose one of --resume, --retry-failed and --fresh');
  if (chosen.length > 0 && flags.journal === false) throw new UsageError(`--no-journal leaves nothing to ${chosen[0]}`);
  return chosen[0] === 'retryFailed' ? 'retry-failed' : (chosen[0] ?? 'new');
}

function positive(flag: string, text: string): number {
  const ms = parseDuration(flag, text);
  if (ms <= 0) throw new UsageError(`${flag} expects a duration > 0, got ${quoted(text)}`);
  return ms;
}

function parseRatio(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${flag} expects a share like 0.2 (or none), got ${quoted(text)}`);
  }
  return n;
}

/** The progress total from a counted file (CSV: less its header), never by buffering the input. */
function totalOf(flags: RunFlags, format: Format, signal: AbortSignal): Promise<number> | undefined {
  if (flags.progress === 'none' || flags.input === undefined || flags.input === '-') return undefined;
  if (!statSync(flags.input).isFile()) return undefined;
  return countLines(flags.input, signal).then((n) => (format === 'csv' ? Math.max(0, n - 1) : n));
}
