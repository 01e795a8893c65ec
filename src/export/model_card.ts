// The README.md that goes into every export: what was tuned, from what, on
// what data, with what result, and how to load the files with the tool each
// format is for. Plain facts in, Markdown out (Hugging Face's card layout: a
// YAML front matter block, then prose).

export interface CardFacts {
  format: 'gguf' | 'gguf-lora' | 'peft' | 'gptq' | 'mlx';
  files: string[];
  base: string;
  method: string;
  quant: string;
  steps: number;
  data: { file: string; bytes: number };
  seqLen: number;
  batch: number;
  lr: number;
  seed: number;
  perplexity: { before: number | null; after: number | null };
  lora: { rank: number; alpha: number } | null;
  /** What each file holds, and which together make the tuned model (Markdown lines). */
  contents: string[];
  notes: string[];
}

const USAGE: Record<CardFacts['format'], (f: CardFacts) => string> = {
  gguf: (f) => `\`\`\`sh\nllama-cli -m ${f.files[0]} -p "Once upon a time"\n# Ollama: echo 'FROM ./${f.files[0]}' > Modelfile && ollama create my-model -f Modelfile\n\`\`\``,
  'gguf-lora': (f) =>
    `\`\`\`sh\n# the tuned model is the base plus the adapter: load both\nllama-cli -m ${f.files.find((n) => n !== 'adapter.gguf') ?? 'model.gguf'} --lora adapter.gguf -p "Once upon a time"\n# Ollama: FROM ./model.gguf + ADAPTER ./adapter.gguf in a Modelfile\n\`\`\``,
  peft: (f) =>
    `\`\`\`python\nfrom transformers import AutoModelForCausalLM\nfrom peft import PeftModel\nbase = AutoModelForCausalLM.from_pretrained("${f.base}")\nmodel = PeftModel.from_pretrained(base, "path/to/this/folder")\n\`\`\``,
  mlx: (f) =>
    `\`\`\`sh\npip install mlx-lm\nmlx_lm.generate --model path/to/this/folder${f.files.includes('adapters.safetensors') ? ' --adapter-path path/to/this/folder' : ''} --prompt "Once upon a time"\n\`\`\``,
  gptq: () =>
    `\`\`\`python\nfrom transformers import AutoModelForCausalLM  # needs gptqmodel (or: vllm serve path/to/this/folder)\nmodel = AutoModelForCausalLM.from_pretrained("path/to/this/folder", device_map="auto")\n\`\`\``,
};

const num = (x: number | null, d = 3) => (x === null ? '–' : x.toFixed(d));

export function modelCard(f: CardFacts): string {
  const yaml = ['---', `base_model: ${JSON.stringify(f.base)}`, 'tags:', '  - sub4', `  - ${f.method}`, ...(f.format === 'peft' ? ['library_name: peft'] : []), '---'];
  const rows: [string, string][] = [
    ['base model', f.base],
    ['method', f.method],
    ['quantization', f.quant],
    ...(f.lora ? ([['LoRA', `rank ${f.lora.rank}, alpha ${f.lora.alpha} (scale ${num(f.lora.alpha / f.lora.rank, 3)})`]] as [string, string][]) : []),
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
    ...(f.notes.length ? ['## Notes', '', ...f.notes.map((n) => `- ${n}`), ''] : []),
    '## Use',
    '',
    USAGE[f.format](f),
    '',
  ].join('\n');
}
