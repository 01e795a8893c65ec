// How a train request talks back while it runs: progress throttled to new
// phases, phase ends and at most one post per STEP_POST_MS, and step points
// batched the same way (a fast GPU makes hundreds of steps a second), other
// stream events posted in order after the points before them.
import type { HandlerIO } from './handler_env.ts';
import type { TrainStepPoint, TrainStream } from './protocol.ts';

/** Step points, and progress within one phase, are posted at most this often. */
const STEP_POST_MS = 100;

/** Progress that posts every new phase and every phase's end, and otherwise at most once per STEP_POST_MS. */
export function throttled(progress: HandlerIO<'train'>['progress']): HandlerIO<'train'>['progress'] {
  let phase = '';
  let last = 0;
  return (p, done, total) => {
    const now = performance.now();
    if (p === phase && done < total && now - last < STEP_POST_MS) return;
    phase = p;
    last = now;
    progress(p, done, total);
  };
}

/** Posts a run's stream: step points batched to at most one message per STEP_POST_MS, other events in order. */
export class StreamOut {
  private points: TrainStepPoint[] = [];
  private last = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly io: HandlerIO<'train'>) {}

  step(p: TrainStepPoint): void {
    this.points.push(p);
    const wait = this.last + STEP_POST_MS - performance.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait);
  }

  send(e: TrainStream): void {
    this.flush();
    this.io.stream(e);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.points.length === 0) return;
    this.io.stream({ type: 'steps', points: this.points });
    this.points = [];
    this.last = performance.now();
  }
}
