// The README.md that goes into every export: what was tuned, from what, on
// what data, with what result, and how to load the files with the tool each
// format is for. Plain facts in, Markdown out (Hugging Face's card layout: a
// YAML front matter block, then prose).

export interface CardFacts {
  format: 'gguf' | 'gguf-lora' | 'peft' | 'gptq' | 'mlx' | 'aqlm' | 'merged';
  files: string[];
  base: string;
  /**
   * The base's Hugging Face Hub id when its files name one (config.json's _name_or_path, as "owner/name"), else
   * null: a local file or folder name is not something from_pretrained or the Hub's base_model can find.
   */
  baseId: string | null;
  method: string;
  quant: string;
  steps: number;
  data: { file: string; bytes: number };
  seqLen: number;
  batch: number;
  lr: number;
  seed: number;
  perplexity: { before: number | null; after: number | null };
  /** `mixed`: each matrix has its own rank (a --budget plan's rank column), scale alpha / its rank. */
  lora: { rank: number; alpha: number; mixed?: boolean } | null;
  /** LQ-LoRA (or ReALLM: method) under a bit budget: the per-matrix plan (bytes: quantized + LoRA at 16 bits per value). */
  budget?: { budget: number; method?: 'lqlora' | 'reallm'; bits: number; bytes: number; weights: number; error: number; rows: { name: string; type: string; rank: number; bytes: number; error: number }[] } | null;
  /** What each file holds, and which together make the tuned model (Markdown lines). */
  contents: string[];
  notes: string[];
}

const USAGE: Record<CardFacts['format'], (f: CardFacts) => string> = {
  gguf: (f) => `\`\`\`sh\nllama-cli -m ${f.files[0]} -p "Once upon a time"\n# Ollama: echo 'FROM ./${f.files[0]}' > Modelfile && ollama create my-model -f Modelfile\n\`\`\``,
  'gguf-lora': (f) => {
    const model = f.files.find((n) => n !== 'adapter.gguf' && n.endsWith('.gguf')) ?? 'model.gguf';
    return `\`\`\`sh\n# the tuned model is the base plus the adapter: load both\nllama-cli -m ${model} --lora adapter.gguf -p "Once upon a time"\n# Ollama: FROM ./${model} + ADAPTER ./adapter.gguf in a Modelfile\n\`\`\``;
  },
  peft: (f) =>
    f.baseId
      ? `\`\`\`python\nfrom transformers import AutoModelForCausalLM\nfrom peft import PeftModel\nbase = AutoModelForCausalLM.from_pretrained("${f.baseId}")\nmodel = PeftModel.from_pretrained(base, "path/to/this/folder")\n\`\`\``
      : `The base model's files name no Hub id, so load the base from its own folder (the Hugging Face folder "${f.base}" that was tuned; adapter_config.json names it "${f.base}" too: put the folder there, or edit base_model_name_or_path):\n\n` +
        `\`\`\`python\nfrom transformers import AutoModelForCausalLM\nfrom peft import PeftModel\nbase = AutoModelForCausalLM.from_pretrained("path/to/${f.base}")  # the base's folder, not a Hub id\nmodel = PeftModel.from_pretrained(base, "path/to/this/folder")\n\`\`\``,
  mlx: (f) =>
    `\`\`\`sh\npip install mlx-lm\nmlx_lm.generate --model path/to/this/folder${f.files.includes('adapters.safetensors') ? ' --adapter-path path/to/this/folder' : ''} --prompt "Once upon a time"\n\`\`\``,
  aqlm: () =>
    `\`\`\`python\nfrom transformers import AutoModelForCausalLM  # needs the aqlm package\nfrom peft import PeftModel\nbase = AutoModelForCausalLM.from_pretrained("path/to/this/folder", device_map="auto")\nmodel = PeftModel.from_pretrained(base, "path/to/this/folder")  # the adapter beside the AQLM weights\n\`\`\`\n\nsub4: \`sub4 eval path/to/this/folder --lora path/to/this/folder\``,
  merged: () =>
    `\`\`\`python\nfrom transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("path/to/this/folder")  # a plain float checkpoint\n\`\`\`\n\nsub4: \`sub4 eval path/to/this/folder\``,
  gptq: () =>
    `\`\`\`python\nfrom transformers import AutoModelForCausalLM  # needs gptqmodel (or: vllm serve path/to/this/folder)\nmodel = AutoModelForCausalLM.from_pretrained("path/to/this/folder", device_map="auto")\n\`\`\``,
};

const num = (x: number | null, d = 3) => (x === null ? '–' : x.toFixed(d));

export function modelCard(f: CardFacts): string {
  // The Hub checks base_model against its own ids: a local name would be a broken link, so it goes only when known.
  const yaml = ['---', ...(f.baseId ? [`base_model: ${JSON.stringify(f.baseId)}`] : []), 'tags:', '  - sub4', `  - ${f.method}`, ...(f.format === 'peft' ? ['library_name: peft'] : []), '---'];
  const rows: [string, string][] = [
    ['base model', f.baseId && f.baseId !== f.base ? `${f.base} (${f.baseId})` : f.base],
    ['method', f.method],
    ['quantization', f.quant],
    ...(f.lora ? ([['LoRA', f.lora.mixed ? `ranks per matrix (the plan's rank column), alpha ${f.lora.alpha} (scale alpha / rank)` : `rank ${f.lora.rank}, alpha ${f.lora.alpha} (scale ${num(f.lora.alpha / f.lora.rank, 3)})`]] as [string, string][]) : []),
    ['data', `${f.data.file} (${f.data.bytes} bytes)`],
    ['steps', `${f.steps} (batch ${f.batch} × ${f.seqLen} tokens, peak lr ${f.lr}, seed ${f.seed})`],
    ['held-out perplexity', `${num(f.perplexity.before)} before → ${num(f.perplexity.after)} after`],
    ['files', f.files.join(', ')],
  ];
  return [
    ...yaml,
    '',
    `# ${f.base} — ${f.method} fine-tune (sub4)`,
    '',
    'Fine-tuned in sub4 on the local GPU. Only the quantization scales and/or low-rank factors were trained; the integer codes of the quantized weights are those of the base.',
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
    '',
    '## What the files hold',
    '',
    ...f.contents.map((c) => `- ${c}`),
    '',
    ...(f.budget
      ? [
          '## Bit budget plan',
          '',
          f.budget.method === 'reallm'
            ? `ReALLM under a budget of ${f.budget.budget} bits per weight: each linear matrix got the learned-codebook shape (vq-dDkK: codes of K bits for D weights) and LoRA rank that minimise the total estimated reconstruction error ‖(W − Q − L)·diag(√w)‖² within it (exact knapsack; errors estimated with tables learned on a row sample, the build's own in the trained state). Bytes: K-bit codes, an f16 scale per row and the f16 table, plus the LoRA factors counted at 16 bits per value.`
            : `LQ-LoRA under a budget of ${f.budget.budget} bits per weight: each linear matrix got the quantization type (and LoRA rank) that minimises the total reconstruction error ‖(W − Q − L)·diag(√w)‖² within it (exact knapsack). Bytes: the quantized blocks plus the LoRA factors counted at 16 bits per value.`,
          '',
          '| matrix | type | rank | bytes | error |',
          '|---|---|---|---|---|',
          ...f.budget.rows.map((r) => `| ${r.name} | ${r.type} | ${r.rank} | ${r.bytes} | ${r.error.toExponential(4)} |`),
          `| total | | | ${f.budget.bytes} | ${f.budget.error.toExponential(4)} |`,
          '',
          `${f.budget.bytes} bytes for ${f.budget.weights} linear weights: ${f.budget.bits.toFixed(4)} bits per weight.`,
          '',
        ]
      : []),
    ...(f.notes.length ? ['## Notes', '', ...f.notes.map((n) => `- ${n}`), ''] : []),
    '## Use',
    '',
    USAGE[f.format](f),
    '',
  ].join('\n');
}
