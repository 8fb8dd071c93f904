// The `sluice` command line.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { type RunFlags, runCommand } from './runCommand.js';
import { UsageError } from './UsageError.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

const collect = (value: string, previous: string[]) => [...previous, value];

const RUN_HELP = `
Placeholders (in the command's words, --http, --header, --body, --key, --per-key):
  {}        the item's text (the line; the raw NDJSON line or CSV record)
  {field}   a field of an NDJSON or CSV item ({a.b} for nested fields)
  {json}    the item as JSON            {#}  the item's position in the input
  {x|url} {x|json} {x|sh} {x|raw}       choose the encoding; {{ and }} are braces
  A command without a placeholder gets {} as its last word. In --http URLs
  values are percent-encoded; with --shell they are shell-quoted.

Results go to stdout as NDJSON (key, line, status, attempts, duration, exitCode
or httpStatus, stdout or body); failed items and unreadable input lines also go
to the failures file, with their line numbers. A summary goes to stderr.

Exit codes:
  0    every item succeeded          1    some items failed (or input lines were invalid)
  2    usage error                   3    halted by --halt
  130  interrupted by SIGINT         143  interrupted by SIGTERM

Examples:
  sluice run -i urls.txt -c 16 -- curl -fsS {}
  sluice run -i users.csv --http 'POST https://api.example.com/users/{id}' --body '{json}' \\
    --rate 50/s --retries 5 --key id
  sluice run -i users.csv --resume --http 'POST https://api.example.com/users/{id}' --body '{json}' --key id
`;

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description(
      'Run a command or an HTTP request for each of millions of items: bounded, rate-limited, retried, resumable.',
    )
    .version(version)
    .showHelpAfterError('(see sluice run --help)')
    .exitOverride();
  const run = program
    .command('run')
    .description('run a program (after --) or an HTTP request (--http) once per input item')
    .argument('[command...]', 'the program and its arguments, after --')
    .option('-i, --input <file>', 'read items from this file ("-" or none: stdin)')
    .addOption(
      new Option('-f, --format <format>', 'input format (default: from the file name, else lines)').choices([
        'lines',
        'ndjson',
        'csv',
      ]),
    )
    .option(
      '--key <field|template>',
      "item key for the journal: a field name or a template (default: a hash of the item's text)",
    )
    .option(
      '-c, --concurrency <n|auto>',
      `items running at once, or auto (adaptive) (default: ${availableParallelism()} for commands, 16 for --http)`,
    )
    .option('--max-concurrency <n>', 'upper bound of --concurrency auto', '256')
    .option(
      '--rate <n/unit>',
      'most starts per window, e.g. 100/s, 500/min, 10/5s (repeatable: all apply)',
      collect,
      [],
    )
    .option(
      '--per-key <template>',
      'scope of the per-key limits and pauses, e.g. {host} (for --http, the URL host when the item has none)',
    )
    .option('--key-rate <n/unit>', 'most starts per window within one --per-key scope (repeatable)', collect, [])
    .option('--key-concurrency <n>', 'items running at once within one --per-key scope')
    .option(
      '--retries <n>',
      'retries of a failed item (HTTP: 408, 429, 5xx, timeouts, resets; commands: any failure)',
      '0',
    )
    .option('--backoff <duration>', 'first retry delay, doubled per retry with full jitter; Retry-After wins', '200ms')
    .option('--max-backoff <duration>', 'longest retry delay', '30s')
    .option('--retry-budget <ratio>', 'most retries as a share of items (at least 10/s); "none" for no budget', '0.2')
    .option('--timeout <duration>', 'end an attempt after this long (a retryable failure)')
    .option('--breaker <n>', 'open a circuit breaker after n failures in a row: nothing starts while it is open')
    .option('--breaker-open <duration>', 'how long the breaker stays open before a probe', '10s')
    .option('--halt <spec>', 'stop early: soon,fail=N | now,fail=N% | never', 'never')
    .option(
      '--redis <url>',
      'share --rate, --key-rate, --concurrency and Retry-After pauses with every runner using this Redis and --job',
    )
    .option('--job <name>', 'the name runners share limits under (default: the fingerprint of the command or request)')
    .option('--http <request>', "send a request per item: 'METHOD URL' (METHOD defaults to GET)")
    .option('-H, --header <header>', "a request header 'Name: value' (repeatable)", collect, [])
    .option('--body <template>', 'the request body')
    .option('--shell', 'run the command through /bin/sh -c, values shell-quoted', false)
    .option('--keep-order', 'write results in input order (default: as items complete)', false)
    .option('-o, --output <file>', 'write results to this file instead of stdout')
    .option('--failures <file>', 'where failed items and unreadable lines go', 'sluice-failures.ndjson')
    .option('--max-output <size>', "bytes of each item's stdout/body (and stderr) kept in its result", '64k')
    .option('--journal <file>', 'the journal of ended items, for --resume', 'sluice.journal')
    .option('--no-journal', 'keep no journal (no --resume)')
    .option('--resume', 'skip the items the journal holds (done or failed)', false)
    .option('--retry-failed', 'skip the done items, run the failed ones again', false)
    .option('--fresh', 'start over: empty the journal', false)
    .option('--allow-changed', 'resume although the command or request changed since the journal was written', false)
    .addOption(
      new Option('--progress <mode>', 'progress on stderr').choices(['auto', 'tty', 'json', 'none']).default('auto'),
    )
    .option('--total <n>', 'items in the input, for progress (default: counted when the input is a file)')
    .option('--dry-run', 'print what would run for each item, run nothing', false)
    .option('--grace <duration>', 'after the first SIGINT/SIGTERM, how long running items may take to finish', '30s')
    .option('--kill-grace <duration>', "between a child's SIGTERM and its SIGKILL", '2s')
    .addHelpText('after', RUN_HELP)
    .action(async (command: string[], flags: RunFlags) => {
      process.exitCode = await runCommand(command, flags);
    });
  run.exitOverride();
  program
    .command('demo')
    .description('the migration story, run through sluice itself against a local service with a hidden capacity')
    .option('--items <n>', 'items per scenario', '2000')
    .action(async (flags: { items: string }) => {
      const { demo } = await import('./demo.js');
      process.exitCode = await demo(flags);
    });
  return program;
}

/** Run the command line; sets `process.exitCode`. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`sluice: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
