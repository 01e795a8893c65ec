// Progress of a long CLI phase (loading, quantizing, evaluating, training): a
// line on stderr rewritten in place when stderr is a terminal, or — with
// --json — `{"type":"progress", …}` lines on stdout before the result, so a
// script reading stdout sees the same phases. Each update says what is done of
// what total, in bytes, tokens, layers or steps, with the rate since the phase
// began and the time left at that rate. Updates are throttled (one per 250 ms
// per phase, the first and the last always shown).
export type ProgressUnit = 'bytes' | 'tokens' | 'layers' | 'steps';

export interface ProgressEvent {
  type: 'progress';
  phase: string;
  done: number;
  total: number;
  unit: ProgressUnit;
  /** Units per second since the phase began. */
  rate: number;
  /** Seconds left at that rate (null until there is a rate). */
  eta_s: number | null;
}

const THROTTLE_MS = 250;

export class CliProgress {
  private phase = '';
  private t0 = 0;
  private last = 0;
  private lineOpen = false;

  constructor(
    readonly mode: 'json' | 'tty' | 'off',
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {}

  /** JSON events with --json, a terminal line when stderr is a TTY, else nothing. */
  static for(json: boolean): CliProgress {
    return new CliProgress(json ? 'json' : process.stderr.isTTY ? 'tty' : 'off');
  }

  update(phase: string, done: number, total: number, unit: ProgressUnit): void {
    if (this.mode === 'off') return;
    const now = performance.now();
    const first = phase !== this.phase;
    if (first) {
      this.end();
      this.phase = phase;
      this.t0 = now;
    } else if (done < total && now - this.last < THROTTLE_MS) return;
    this.last = now;
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const e: ProgressEvent = { type: 'progress', phase, done, total, unit, rate: +rate.toFixed(1), eta_s: rate > 0 ? +((total - done) / rate).toFixed(1) : null };
    if (this.mode === 'json') this.out.write(`${JSON.stringify(e)}\n`);
    else {
      this.err.write(`\r${progressLine(e)}\x1b[K`);
      this.lineOpen = true;
    }
  }

  /** Close the terminal line (before other output, or at the end). */
  end(): void {
    if (this.lineOpen) this.err.write('\n');
    this.lineOpen = false;
  }
}

const MB = 1e6;

/** "load  312.4 / 668.0 MB  45.1 MB/s  ETA 7 s" */
export function progressLine(e: ProgressEvent): string {
  const amount = (n: number) => (e.unit === 'bytes' ? (n / MB).toFixed(1) : String(Math.round(n)));
  const unit = e.unit === 'bytes' ? 'MB' : e.unit;
  const rate = e.unit === 'bytes' ? `${(e.rate / MB).toFixed(1)} MB/s` : `${e.rate.toFixed(1)} ${e.unit}/s`;
  const pct = e.total > 0 ? ` (${((100 * e.done) / e.total).toFixed(0)} %)` : '';
  return `${e.phase}  ${amount(e.done)} / ${amount(e.total)} ${unit}${pct}  ${rate}  ETA ${e.eta_s === null ? '?' : `${Math.ceil(e.eta_s)} s`}`;
}

/** A rate for a closing line: whole numbers from 10 up, else two significant digits (a 1B model on a software GPU evaluates 0.3 tokens/s, not "0"). */
export function rate(x: number): string {
  return x >= 10 ? x.toFixed(0) : x.toPrecision(2);
}
