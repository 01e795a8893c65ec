// The engine's current model: at most one is open, and every later request
// (tokenize, generate, train, export) works on it. Loads are numbered, so when
// a second drop arrives while the first is still opening, only the newest
// becomes current and the other is closed as soon as it is ready.
import { Sub4Error } from '../gpu/errors.ts';
import type { LoadedModel } from '../io/model.ts';

/** A newer load-model request replaced this one before it finished; the UI drops such answers. */
export class ModelLoadSupersededError extends Sub4Error {}

export class ModelSlot {
  private model: LoadedModel | null = null;
  private latest = 0;

  get current(): LoadedModel | null {
    return this.model;
  }

  /**
   * Start a load: the previous model is closed first, so a failed load leaves no
   * model rather than one the page no longer shows, and its memory is free
   * before the next one is read. Returns the ticket to pass to commit().
   */
  async begin(): Promise<number> {
    const ticket = ++this.latest;
    const previous = this.model;
    this.model = null;
    await previous?.close();
    return ticket;
  }

  /** Make `model` current if no newer load began since `ticket`; otherwise close it and throw. */
  async commit(ticket: number, model: LoadedModel): Promise<void> {
    if (ticket !== this.latest) {
      await model.close();
      throw new ModelLoadSupersededError(`${model.name}: a newer model was dropped while this one was opening, so this one was closed.`);
    }
    this.model = model;
  }
}
