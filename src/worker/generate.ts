// The generate request: continue a prompt with the current model (the base, or
// the kept training run's tuned one), streaming each token's text to the page
// as soon as it is chosen (src/model/generate.ts does the decoding; sampling as
// in `sub4 generate`). A cancel stops it at the next token and it resolves with
// the text so far and stopReason 'cancelled'. Chat mode renders the prompt as a
// user turn with the model's chat template first.
import { generate } from '../model/generate.ts';
import { CancelledError, intParam, numParam, RequestParamError } from './errors.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { placedBy, type ModelJob } from './model_slot.ts';
import type { LayerLora } from '../model/llama.ts';
import type { EngineRequest, Generated, StopReason } from './protocol.ts';
import { textStream } from '../model/text_stream.ts';
import { promptIds } from '../train/data/index.ts';

/** Request fields checked up front, so a typo in the page fails before any GPU work. */
function checkParams(req: EngineRequest<'generate'>) {
  if (typeof req.prompt !== 'string') throw new RequestParamError('prompt', 'must be text');
  return {
    prompt: req.prompt,
    maxTokens: intParam(req.maxTokens, 'max tokens', 1, 1 << 20),
    temperature: numParam(req.temperature, 'temperature', 0, 100),
    topK: intParam(req.topK, 'top-k', 0),
    // 0 would keep no token at all; 1 turns the filter off.
    topP: req.topP === 0 ? invalidTopP() : numParam(req.topP, 'top-p', 0, 1),
    seed: intParam(req.seed, 'seed', 0, 0xffffffff),
    model: modelParam(req.model),
    chat: req.chat === true,
  };
}

function modelParam(m: unknown): 'base' | 'tuned' {
  if (m === undefined || m === 'base' || m === 'tuned') return m ?? 'base';
  throw new RequestParamError('model', `must be "base" or "tuned", got ${JSON.stringify(m)}`);
}

function invalidTopP(): never {
  throw new RequestParamError('top-p', 'must be above 0 (1 turns it off), got 0');
}

export async function generateText(req: EngineRequest<'generate'>, io: HandlerIO<'generate'>, env: HandlerEnv): Promise<Generated> {
  const p = checkParams(req);
  const ctx = await env.getContext(io.progress);
  if (p.model === 'base') return env.models.run(ctx, io, (job) => continuePrompt(job, p, io));
  // The tuned model: the kept run's weights (resident ones it borrowed, or its own) with its scales and LoRA factors.
  return env.models.runWithoutWeights(ctx, io, async (job) => {
    const run = env.models.training.trained;
    if (!run) throw new RequestParamError('model', `is "tuned", but ${job.file.name} has no trained run: train it first, or generate with the base model`);
    if (run.llama.ctx !== ctx) throw new RequestParamError('model', 'is "tuned", but the trained run was on a GPU device that has been lost since; train again');
    return run.withTuned((llama, lora) => continuePrompt({ ...job, llama, uploaded: null }, p, io, lora));
  });
}

/** The prompt as one user turn in the model's chat template; a model without one is a RequestParamError naming the mode. */
function chatPrompt({ file, tokenizer }: ModelJob, text: string): number[] {
  if (!tokenizer.applyChatTemplate) throw new RequestParamError('chat', `is on, but ${file.name} has no chat template (a base model): turn chat mode off to continue plain text`);
  return promptIds(tokenizer, text, 'chat');
}

async function continuePrompt(job: ModelJob, p: ReturnType<typeof checkParams>, io: HandlerIO<'generate'>, lora?: readonly LayerLora[]): Promise<Generated> {
  const { file, tokenizer, llama, signal } = job;
  const prompt = p.chat ? chatPrompt(job, p.prompt) : tokenizer.encode(p.prompt);
  if (prompt.length === 0)
    throw new RequestParamError('prompt', `is empty, and ${file.name} has no BOS token to start from; type some text to continue`);
  const max = llama.config.maxPositions;
  if (prompt.length > max) throw new RequestParamError('prompt', `has ${prompt.length} tokens, but ${file.name} reads at most ${max} positions; shorten it`);
  const stream = textStream(tokenizer, prompt);
  const tokens: number[] = [];
  const t0 = performance.now();
  let firstAt = 0;
  let lastAt = 0;
  let stopReason: StopReason;
  try {
    const r = await generate(llama, prompt, {
      maxTokens: p.maxTokens,
      temperature: p.temperature,
      topK: p.topK,
      topP: p.topP,
      seed: p.seed,
      stopIds: tokenizer.eosIds.length ? tokenizer.eosIds : undefined,
      lora,
      onToken(id) {
        // Thrown from here, generate() frees its cache and activations on the way out.
        if (signal.aborted) throw new CancelledError(String(signal.reason));
        lastAt = performance.now();
        if (tokens.length === 0) firstAt = lastAt;
        tokens.push(id);
        io.stream({ id, text: stream.push(id) });
      },
    });
    stopReason = r.stop;
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    stopReason = 'cancelled';
  }
  stream.flush();
  return {
    model: p.model,
    tokens,
    text: stream.text,
    promptTokens: prompt.length,
    tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / ((lastAt - firstAt) / 1000) : 0,
    prefillMs: tokens.length > 0 ? firstAt - t0 : 0,
    stopReason,
    ...placedBy(job),
  };
}
