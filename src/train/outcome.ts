// What a finished run's numbers say that a "done" does not: a held-out loss that
// ended above where it started means the tune made the model worse on text it did
// not train on (too high a learning rate, most often, for a short run), however
// well the training loss fell. Shared by the studio's run report and `sub4 tune`.

export interface RunOutcome {
  steps: number;
  /** Peak learning rate of the run. */
  lr: number;
  evalBefore: { loss: number; ppl: number } | null;
  evalAfter: { loss: number; ppl: number } | null;
}

/** Warnings about a run's result, in plain words (empty when there is nothing to warn about). */
export function runWarnings(r: RunOutcome): string[] {
  const out: string[] = [];
  const b = r.evalBefore;
  const a = r.evalAfter;
  if (r.steps > 0 && b && a && a.loss > b.loss) {
    // A third of the lr is one step down the usual 1–3 ladder of learning rates; a guess, said as one.
    out.push(
      `The held-out loss rose from ${b.loss.toFixed(4)} to ${a.loss.toFixed(4)} (perplexity ${b.ppl.toFixed(2)} → ${a.ppl.toFixed(2)}): ` +
        `this run made the model worse on text it did not train on. Try a lower learning rate (e.g. ${Number((r.lr / 3).toPrecision(2))} instead of ${r.lr}).`,
    );
  }
  return out;
}
