// One program per item: argv rendered from templates, no shell unless asked.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Action, type Attempt, abortText, type Outcome } from './Action.js';
import { Capture } from './Capture.js';
import type { Item } from './Item.js';
import { compileTemplate, type Template } from './template.js';
import { UsageError } from './UsageError.js';

export interface CommandOptions {
  /** The program and its arguments, with placeholders. `{}` is appended when none has one. */
  readonly argv: readonly string[];
  /** Run through `/bin/sh -c`, the words joined by spaces, values shell-quoted. */
  readonly shell: boolean;
  /** Bytes of stdout (and of stderr) kept per item. */
  readonly maxOutput: number;
  /** Ms between SIGTERM and SIGKILL when an attempt is ended. */
  readonly killGrace: number;
}

export class CommandAction implements Action {
  readonly fingerprint: string;
  readonly fields: readonly string[];
  readonly #templates: readonly Template[];
  readonly #options: CommandOptions;

  constructor(options: CommandOptions) {
    if (options.argv.length === 0) {
      throw new UsageError('sluice run needs a command after `--` (or --http METHOD URL)');
    }
    this.#options = options;
    const words = options.shell ? [options.argv.join(' ')] : [...options.argv];
    const encoding = options.shell ? 'sh' : 'raw';
    let templates = words.map((word, i) => compileTemplate(`command word ${i + 1}`, word, encoding));
    if (!templates.some((t) => t.hasPlaceholder)) {
      templates = options.shell
        ? [compileTemplate('command', `${words[0]} {}`, 'sh')]
        : [...templates, compileTemplate('command', '{}', 'raw')];
    }
    this.#templates = templates;
    this.fields = templates.flatMap((t) => t.fields);
    const identity = { kind: 'command', shell: options.shell, argv: templates.map((t) => t.source) };
    this.fingerprint = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  }

  #render(item: Item): string[] {
    return this.#templates.map((t) => t.render(item));
  }

  describe(item: Item): string {
    const words = this.#render(item);
    return this.#options.shell ? (words[0] as string) : JSON.stringify(words);
  }

  prepare(item: Item): Attempt {
    const words = this.#render(item);
    const [file, args] = this.#options.shell
      ? ['/bin/sh', ['-c', words[0] as string]]
      : [words[0] as string, words.slice(1)];
    return (signal) => this.#spawn(file, args, signal);
  }

  #spawn(file: string, args: string[], signal: AbortSignal): Promise<Outcome> {
    const { maxOutput, killGrace } = this.#options;
    return new Promise<Outcome>((resolve) => {
      const stdout = new Capture(maxOutput);
      const stderr = new Capture(maxOutput);
      let failure: string | undefined;
      let retryable = false;
      let killTimer: NodeJS.Timeout | undefined;
      const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const stop = () => {
        failure ??= abortText(signal);
        retryable = true;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), killGrace);
        killTimer.unref();
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
      child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      child.on('error', (error: NodeJS.ErrnoException) => {
        failure = error.message;
        // A missing program fails every item alike; running out of processes or files may pass.
        retryable = error.code === 'EAGAIN' || error.code === 'EMFILE' || error.code === 'ENFILE';
      });
      child.on('close', (code, killedBy) => {
        signal.removeEventListener('abort', stop);
        clearTimeout(killTimer);
        const ok = failure === undefined && code === 0;
        resolve({
          ok,
          retryable: ok ? false : failure === undefined || retryable,
          overload: false,
          pause: false,
          exitCode: code,
          signal: killedBy,
          output: stdout.text(),
          truncated: stdout.truncated || stderr.truncated,
          stderr: ok ? undefined : stderr.text(),
          error: ok ? undefined : (failure ?? (killedBy === null ? `exit code ${code}` : `killed by ${killedBy}`)),
        });
      });
    });
  }

  async close(): Promise<void> {}
}
