// CliProgress: --json events on stdout (first and last always, the rest
// throttled), a terminal line on stderr rewritten in place, nothing otherwise.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliProgress, progressLine } from '../../src/cli/progress.ts';

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

describe('CLI progress', () => {
  it('json: one event per phase start and end, throttled between, rate and ETA', () => {
    const out = sink(), err = sink();
    const p = new CliProgress('json', out, err);
    for (let i = 0; i <= 1000; i++) p.update('load', i * 1000, 1_000_000, 'bytes');
    p.update('eval', 0, 512, 'tokens');
    p.update('eval', 512, 512, 'tokens');
    const ev = out.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(err.text).toBe('');
    expect(ev.length).toBeLessThan(10); // a tight loop: throttled to the first and the last
    expect(ev[0]).toMatchObject({ type: 'progress', phase: 'load', done: 0, total: 1_000_000, unit: 'bytes' });
    expect(ev.filter((e) => e.phase === 'load').at(-1).done).toBe(1_000_000);
    expect(ev.slice(-2).map((e) => [e.phase, e.done])).toEqual([['eval', 0], ['eval', 512]]);
    expect(ev.at(-1).eta_s === null || ev.at(-1).eta_s === 0).toBe(true);
  });

  it('tty: a carriage-return line on stderr, closed with a newline; off: silent', () => {
    const out = sink(), err = sink();
    const p = new CliProgress('tty', out, err);
    p.update('quantize', 3, 14, 'layers');
    p.end();
    expect(out.text).toBe('');
    expect(err.text).toMatch(/^\rquantize {2}3 \/ 14 layers \(21 %\)/);
    expect(err.text.endsWith('\n')).toBe(true);
    const q = new CliProgress('off', out, err);
    q.update('load', 1, 2, 'bytes');
    expect(out.text + err.text).toBe(err.text);
  });

  it('formats bytes as MB with a rate and an ETA', () => {
    expect(progressLine({ type: 'progress', phase: 'load', done: 312.4e6, total: 668e6, unit: 'bytes', rate: 45.1e6, eta_s: 7.9 })).toBe('load  312.4 / 668.0 MB (47 %)  45.1 MB/s  ETA 8 s');
  });
});
