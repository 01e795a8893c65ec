// `sub4 inspect <file-or-folder>`: what a model is, without loading it on a GPU.
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { openModelPath } from '../io/model.node.ts';
import { modelFacts, type ModelFacts } from '../model/facts.ts';

const MiB = 1024 * 1024;
const fmtBytes = (b: number) => (b >= 1024 * MiB ? `${(b / 1024 / MiB).toFixed(2)} GiB` : `${(b / MiB).toFixed(2)} MiB`);

function text(f: ModelFacts): string {
  const c = f.config;
  const lines = [
    `model        ${f.name} (${f.format === 'gguf' ? 'GGUF' : 'Hugging Face safetensors'})`,
    `architecture ${f.architecture}: ${c.numLayers} layers, hidden ${c.hiddenSize}, ffn ${c.intermediateSize}, heads ${c.numHeads} (kv ${c.numKvHeads}, head dim ${c.headDim}), vocab ${c.vocabSize}`,
    `             rope θ ${c.ropeTheta}${c.ropeScaling.type !== 'none' ? ` (${c.ropeScaling.type} scaling)` : ''}, rms eps ${Number(c.rmsNormEps.toPrecision(6))}, tied embeddings ${c.tieWordEmbeddings ? 'yes' : 'no'}, max positions ${c.maxPositions}`,
    `parameters   ${f.parameters.toLocaleString('en-US')} (stored values ${f.storedParameters.toLocaleString('en-US')})`,
    `file size    ${fmtBytes(f.fileBytes)}, ${f.bitsPerWeight.toFixed(2)} bits per weight`,
    `tensor types ${Object.entries(f.tensorTypes)
      .map(([t, n]) => `${t}: ${n.tensors} tensors (${n.parameters.toLocaleString('en-US')} values)`)
      .join(', ')}`,
    `tokenizer    ${'problem' in f.tokenizer ? `none — ${f.tokenizer.problem}` : `${f.tokenizer.kind}, vocab ${f.tokenizer.vocabSize}, chat template ${f.tokenizer.chatTemplate ? 'yes' : 'none'}`}`,
    ...(f.finetune ? [`fine-tuned   ${f.finetune}`] : []),
    `fine-tune    estimated peak GPU memory at seq ${f.trainingMemory.seq}, batch ${f.trainingMemory.batch}: PEQA ${fmtBytes(f.trainingMemory.peqa.total)}, LoRA ${fmtBytes(f.trainingMemory.lora.total)}`,
    `             (${f.trainingMemory.assumes})`,
  ];
  return lines.join('\n');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'describe a model (.gguf file or Hugging Face folder): config, tensor types, size, tokenizer, training memory',
  usage: 'usage: sub4 inspect <file.gguf | hf-folder> [--json]',
  options: { json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`inspect takes one path\n\n${this.usage}`);
    const model = await openModelPath(positionals[0]);
    try {
      const facts = modelFacts(model);
      console.log(values.json ? JSON.stringify(facts, null, 2) : text(facts));
      return 0;
    } finally {
      await model.close();
    }
  },
};
