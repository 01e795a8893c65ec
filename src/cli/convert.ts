// `sub4 convert <model> --type T [--pure] [--imatrix F] --out file.gguf`: write a
// GGUF llama.cpp loads, with llama-quantize's per-tensor type choice for a file
// type (src/export/convert/ftype_mix.ts) or one ggml type everywhere (--pure);
// or `--budget B`: each linear matrix's type from the exact bit-budget plan
// (convert_budget.ts).
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { openModelPath } from '../io/model.node.ts';
import { convertToGguf } from '../export/convert/convert.ts';
import { FILE_TYPE_NAMES, PURE_TYPE_NAMES, isFileTypeName, resolveTypeChoice } from '../export/convert/ftype_mix.ts';
import { fileSink } from '../io/sink.node.ts';
import { GgmlType } from '../quant/formats.ts';
import { importanceOf } from './convert_imatrix.ts';
import { budgetFlags, planConvertBudget } from './convert_budget.ts';
import { readImatrixFile } from './tune_base.ts';
import { intFlag } from './model_gpu.ts';
import { createNodeQuantizePool } from '../quant/quantize/pool.node.ts';
import { availableParallelism } from 'node:os';

const PURE_ONLY = PURE_TYPE_NAMES.filter((t) => !isFileTypeName(t));

export const convertCommand: Command = {
  name: 'convert',
  summary: 'write a GGUF of any llama-quantize file type (Q4_K_M, IQ2_M, Q8_0, …) or one ggml type, from a Hugging Face folder or another GGUF',
  usage: [
    'usage: sub4 convert <file.gguf | hf-folder> --type T --out <file.gguf> [--pure] [--imatrix <imatrix.gguf>] [--name NAME] [--json]',
    '       sub4 convert <float model> --budget B --out <file.gguf> [--imatrix <imatrix.gguf>] [--types T1,T2,…] [--type T] [--json]',
    '',
    `  --type      a llama-quantize file type: ${FILE_TYPE_NAMES.join('|')}`,
    `              or a ggml type, one for every quantizable tensor (as with --pure): ${PURE_ONLY.join('|')}`,
    `  --pure      no per-tensor mix: every quantizable tensor gets the ggml type T (${PURE_TYPE_NAMES.join('|')}),`,
    '              except where its rows do not fit the block (llama-quantize --pure)',
    '  --imatrix   importance matrix (llama.cpp imatrix GGUF); required for IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, Q2_K_S tensors',
    '  --budget    bits per linear weight: each blk.* linear matrix gets the GGUF type of the least total (imatrix-weighted)',
    '              error within B (exact knapsack over the candidates, no LoRA); prints the plan and writes it into the metadata',
    '  --types     with --budget: the candidate GGUF types (default: every type sub4 quantizes to, i-quants with --imatrix)',
    '              with --budget, --type is the rest\'s type (embeddings, output; default F16)',
    `  --workers   quantizer threads (default ${availableParallelism()}, the cores; 1: on the main thread)`,
  ].join('\n'),
  options: {
    type: { type: 'string' },
    out: { type: 'string', short: 'o' },
    pure: { type: 'boolean' },
    imatrix: { type: 'string' },
    budget: { type: 'string' },
    workers: { type: 'string' },
    types: { type: 'string' },
    name: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, positionals) {
    const budget = budgetFlags(values);
    const type = String(values.type ?? (budget ? 'F16' : ''));
    const pure = !!values.pure;
    if (positionals.length !== 1 || !values.out || !resolveTypeChoice(type, pure)) throw new UsageError(this.usage);
    const imPath = values.imatrix ? String(values.imatrix) : null;
    const im = imPath ? await readImatrixFile(imPath) : null;
    const importance = im ? importanceOf(im, imPath!) : undefined;
    const pool = createNodeQuantizePool(intFlag(values.workers, 'workers', availableParallelism()));
    const quantize = (t: GgmlType, x: Float32Array, rows: number, cols: number, w: Float32Array | null) => pool.quantize(t, x, rows, cols, w);
    const model = await openModelPath(positionals[0]);
    try {
      const planned = budget ? await planConvertBudget(model, budget, im, !!values.json, quantize) : null;
      const sink = await fileSink(String(values.out));
      try {
        const res = await convertToGguf(model, sink, {
          type,
          pure,
          importance,
          types: planned?.types,
          extraKv: planned?.extraKv,
          quantize,
          name: values.name as string | undefined,
          onTensor: (i, n, name, t) => {
            if (!values.json) process.stderr.write(`\r[${i + 1}/${n}] ${name} → ${GgmlType[t]}`.padEnd(60));
          },
        });
        await sink.commit();
        if (!values.json) process.stderr.write('\n');
        const counts: Record<string, number> = {};
        for (const t of res.tensors) counts[t.type] = (counts[t.type] ?? 0) + 1;
        if (values.json) console.log(JSON.stringify({ out: values.out, bytes: res.bytes, tensorTypes: counts, tensors: res.tensors }));
        else console.log(`wrote ${values.out}: ${res.bytes.toLocaleString('en-US')} bytes, ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}`);
        return 0;
      } catch (e) {
        await sink.abort();
        throw e;
      }
    } finally {
      pool.destroy();
      await model.close();
    }
  },
};
