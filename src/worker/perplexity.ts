// The perplexity request: score a dropped text file with the current model by
// the windowed protocol of `sub4 eval` (src/model/eval.ts: windows of ctx
// tokens starting with BOS, tokens 1..ctx−1 scored), reporting windows done.
// The file is read in the worker: whole when it is of ordinary size (what the
// CLI does, so the numbers agree), else a growing prefix, since only its first
// windows·(ctx−1) tokens are used and a multi-GB drop must not be read whole.
import { evalWindows, EvalDataError, perplexityOf, tokenizePrefix } from '../model/eval.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { CancelledError, intParam, RequestParamError } from './errors.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { placedBy } from './model_slot.ts';
import type { EngineRequest, PerplexityReport } from './protocol.ts';

/** Files up to this size are read whole. */
const WHOLE_FILE_BYTES = 64 << 20;
/** Extra tokens asked of a prefix so that tokenization near its cut cannot reach the tokens kept. */
const MARGIN = 64;

type Progress = (phase: string, done: number, total: number) => void;

/** Bytes → text; a file that is not UTF-8 is an EvalDataError naming it. `partial`: the bytes stop mid-file. */
export function decodeUtf8(bytes: Uint8Array, name: string, partial: boolean): string {
  try {
    // stream: true holds back a character cut by the end of a prefix instead of failing on it.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: partial });
  } catch {
    throw new EvalDataError(name, 'is not UTF-8 text; save it as plain UTF-8 text and drop it again');
  }
}

/** The first `needed` evaluation tokens of the file (fewer when the whole text has fewer). */
async function fileTokens(file: Blob, name: string, tok: Tokenizer, needed: number, progress: Progress): Promise<number[]> {
  for (let bytes = Math.min(file.size, Math.max(WHOLE_FILE_BYTES, needed * 16)); ; bytes = Math.min(file.size, bytes * 4)) {
    const whole = bytes >= file.size;
    progress('reading text', 0, bytes);
    const buf = new Uint8Array(await file.slice(0, bytes).arrayBuffer());
    progress('reading text', bytes, bytes);
    let text = decodeUtf8(buf, name, !whole);
    // A prefix ends at a line break, as tokenizePrefix's own cuts do.
    if (!whole) text = text.slice(0, text.lastIndexOf('\n') + 1) || text;
    progress('tokenizing', 0, 1);
    const ids = tokenizePrefix(tok, text, whole ? needed : needed + MARGIN);
    progress('tokenizing', 1, 1);
    if (whole || ids.length >= needed + MARGIN) return ids.slice(0, needed);
  }
}

export async function perplexity(req: EngineRequest<'perplexity'>, io: HandlerIO<'perplexity'>, env: HandlerEnv): Promise<PerplexityReport> {
  if (!(req.file instanceof Blob)) throw new RequestParamError('text file', 'none was given; drop or pick a .txt file');
  const name = typeof req.name === 'string' && req.name ? req.name : 'the dropped text';
  const ctxLen = intParam(req.ctx, 'ctx', 2, 1 << 16);
  const windows = intParam(req.windows, 'windows', 1, 1 << 16);
  const ctx = await env.getContext(io.progress);
  return env.models.run(ctx, io, async (job) => {
    const { tokenizer, llama, signal, file: model } = job;
    const max = llama.config.maxPositions;
    if (ctxLen > max) throw new RequestParamError('ctx', `${model.name} reads at most ${max} positions, so ctx must be at most ${max}, got ${ctxLen}`);
    const bos = tokenizer.bosId;
    const ids = await fileTokens(req.file, name, tokenizer, (bos === null ? ctxLen : ctxLen - 1) * windows, io.progress);
    const wins = evalWindows(ids, bos, ctxLen, windows, name);
    const stopIfCancelled = () => {
      if (signal.aborted) throw new CancelledError(`Evaluation stopped: ${String(signal.reason)}.`);
    };
    stopIfCancelled();
    io.progress('evaluating', 0, windows);
    const r = await perplexityOf(llama, wins, {
      onProgress(done, total) {
        io.progress('evaluating', done, total);
        stopIfCancelled();
      },
    });
    return { tokens: r.tokens, nll: r.nll, ppl: r.ppl, file: name, ...placedBy(job) };
  });
}
