// A studio run's checkpoints: the engine's Checkpointer over the run's store
// (OPFS, runs.ts), with what the page needs to hear about it. Unlike `sub4
// tune`, a checkpoint that cannot be written (the site's storage is full) does
// not end the run: what is trained lives on the GPU and in memory, so the run
// goes on, the page is told once why (the previous checkpoint is kept), and the
// next due checkpoint tries again. Each written checkpoint is announced, so the
// panel can say from which step a reload would resume.
import { CheckpointWriteError } from '../train/checkpoint/errors.ts';
import type { RunIdentity } from '../train/checkpoint/identity.ts';
import { Checkpointer } from '../train/checkpoint/session.ts';
import type { CheckpointStore } from '../train/checkpoint/store.ts';
import type { TrainStream } from './protocol.ts';
import type { CheckedSettings } from './train_data.ts';

type Note = Extract<TrainStream, { type: 'note' }>;

export interface RunCheckpointsOptions {
  store: CheckpointStore;
  settings: CheckedSettings;
  identity: RunIdentity;
  /** Posts a stream event to the page. */
  send(e: TrainStream): void;
  /** Notes also go into the run's report. */
  notes: string[];
}

export class RunCheckpoints {
  readonly checkpointer: Checkpointer;
  private lastWriteOk = false;
  private announced = 0;
  private lastProblem = '';

  constructor(private readonly o: RunCheckpointsOptions) {
    const tolerant: CheckpointStore = {
      where: o.store.where,
      describe: (n) => o.store.describe(n),
      read: (n) => o.store.read(n),
      write: async (n, bytes) => {
        try {
          await o.store.write(n, bytes);
          this.lastWriteOk = true;
        } catch (e) {
          this.lastWriteOk = false;
          if (!(e instanceof CheckpointWriteError)) throw e;
          // The same trouble every minute is said once.
          if (e.message !== this.lastProblem) this.note(e.message, 'storage');
          this.lastProblem = e.message;
        }
      },
    };
    this.checkpointer = new Checkpointer({
      store: tolerant,
      settings: { ...o.settings },
      identity: o.identity,
      everySteps: o.settings.checkpointEvery,
      earlyStop: o.settings.earlyStop,
      log: (line) => this.log(line),
    });
  }

  note(text: string, kind: Note['kind']): void {
    this.o.notes.push(text);
    this.o.send({ type: 'note', text, kind });
  }

  /** Write the last good state now (Pause, a hidden tab), unless it is the checkpoint already written. */
  async saveNow(): Promise<void> {
    const good = this.checkpointer.lastGood;
    if (!good || this.checkpointer.written.at(-1) === good.progress.step) return;
    try {
      await this.checkpointer.saveLatest(good);
    } catch (e) {
      this.note(`The checkpoint at step ${good.progress.step} could not be written: ${(e as Error).message}`, 'storage');
    }
  }

  /** The Checkpointer's log: a new entry in `written` is a checkpoint on disk; guard lines are notes. */
  private log(line: string): void {
    const ck = this.checkpointer;
    if (ck.written.length > this.announced) {
      this.announced = ck.written.length;
      if (this.lastWriteOk) this.o.send({ type: 'checkpoint', step: ck.written.at(-1)!, where: this.o.store.where });
      return;
    }
    if (/^held-out/.test(line)) this.note(line, 'guard');
  }
}
