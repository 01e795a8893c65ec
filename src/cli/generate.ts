// `sub4 generate <model> --prompt <text>`: sample a continuation on the GPU and
// stream it to stdout token by token (text, or one JSON line per token with
// --json). --temperature 0 is greedy decoding.
import { CliProgress } from './progress.ts';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { generate } from '../model/generate.ts';
import { textStream } from '../model/text_stream.ts';
import { intFlag, numFlag, openWithTokenizer, toGpu } from './model_gpu.ts';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt with the model, streaming tokens to stdout (greedy with --temperature 0)',
  usage: [
    'usage: sub4 generate <file.gguf | hf-folder> --prompt <text> [--max-tokens 128] [--temperature 0.8] [--top-k 40] [--top-p 0.95] [--seed 0] [--json]',
    '  --prompt       text to continue (BOS is added when the model asks for it)',
    '  --max-tokens   most new tokens (default 128); generation also stops at an end-of-sequence token',
    '  --temperature  0 = greedy (default 0.8)',
    '  --top-k        keep the k most likely tokens, 0 = off (default 40)',
    '  --top-p        keep the most likely tokens up to this probability, 1 = off (default 0.95)',
    '  --seed         sampler seed (default 0)',
    '  --json         one JSON line per token ({"token", "text"}), then a summary line; {"type":"progress",…} lines while loading',
  ].join('\n'),
  options: {
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`generate takes one model path\n\n${this.usage}`);
    if (typeof values.prompt !== 'string') throw new UsageError(`generate needs --prompt <text>\n\n${this.usage}`);
    const maxTokens = intFlag(values['max-tokens'], 'max-tokens', 128, 0);
    const temperature = numFlag(values.temperature, 'temperature', 0.8, 0, 100);
    const topK = intFlag(values['top-k'], 'top-k', 40, 0);
    const topP = numFlag(values['top-p'], 'top-p', 0.95, Number.MIN_VALUE, 1);
    const seed = intFlag(values.seed, 'seed', 0, 0);
    const s = await toGpu(await openWithTokenizer(positionals[0]), CliProgress.for(!!values.json));
    try {
      const prompt = s.tokenizer.encode(values.prompt);
      const stream = textStream(s.tokenizer, prompt);
      if (!values.json) process.stdout.write(values.prompt);
      const r = await generate(s.model, prompt, {
        maxTokens,
        temperature,
        topK,
        topP,
        seed,
        stopIds: s.tokenizer.eosIds.length ? s.tokenizer.eosIds : undefined,
        onToken(id) {
          const text = stream.push(id);
          if (values.json) process.stdout.write(`${JSON.stringify({ token: id, text })}\n`);
          else process.stdout.write(text);
        },
      });
      const rest = stream.flush();
      const n = r.tokens.length;
      const decodeRate = n > 1 ? (n - 1) / (r.decodeMs / 1000) : 0;
      const summary = { done: true, promptTokens: prompt.length, tokens: r.tokens, stop: r.stop, prefillMs: +r.prefillMs.toFixed(1), decodeTokensPerS: +decodeRate.toFixed(2) };
      if (values.json) console.log(JSON.stringify(summary));
      else process.stdout.write(`${rest}\n`);
      console.error(`sub4 generate: ${n} tokens (${r.stop}); load ${s.loadSeconds.toFixed(2)} s, prefill ${prompt.length} tokens in ${r.prefillMs.toFixed(0)} ms, decode ${decodeRate.toFixed(1)} tokens/s`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
