// The facts of an opened model, as `sub4 inspect` prints them (both come from
// src/model/facts.ts): identity, shape, size, tensor types, tokenizer, and the
// planner's estimate of the GPU memory a fine-tuning run would take.
import type { ReactNode } from 'react';
import type { ModelFacts, TokenizerFacts } from '../../model/facts.ts';
import { formatBytes, formatCount } from '../format.ts';
import { TrainingMemory } from './TrainingMemory.tsx';

function Row({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <tr>
      <th>{label}</th>
      <td data-testid={testId}>{value}</td>
    </tr>
  );
}

function rope(c: ModelFacts['config']): string {
  const scaling = c.ropeScaling.type === 'none' ? '' : `, ${c.ropeScaling.type} scaling`;
  return `θ ${formatCount(c.ropeTheta)}${scaling}; max positions ${formatCount(c.maxPositions)}`;
}

function specials(t: TokenizerFacts): string {
  const bos = t.bos ? `BOS ${t.bos.text} (id ${t.bos.id}${t.bos.prepended ? ', prepended' : ', not prepended'})` : 'no BOS';
  const eos = t.eos.length ? `EOS ${t.eos.map((e) => `${e.text} (id ${e.id})`).join(', ')}` : 'no EOS (generation runs to the token limit)';
  return `${bos}; ${eos}`;
}

export function ModelFactsView({ facts: f, opened, ignored }: { facts: ModelFacts; opened: string[]; ignored: string[] }) {
  const c = f.config;
  const types = Object.entries(f.tensorTypes).sort((a, b) => b[1].bytes - a[1].bytes);
  return (
    <>
      <table className="kv" data-testid="model-facts">
        <tbody>
          <Row label="Name" value={f.name} testId="model-name" />
          <Row label="Format" value={f.format === 'gguf' ? 'GGUF' : 'Hugging Face safetensors'} testId="model-format" />
          {f.finetune && <Row label="Fine-tuned" value={f.finetune} testId="model-finetune" />}
          <Row label="Architecture" value={c.architecture} testId="model-architecture" />
          <Row label="Layers" value={formatCount(c.numLayers)} testId="model-layers" />
          <Row label="Hidden size" value={formatCount(c.hiddenSize)} testId="model-hidden" />
          <Row label="FFN size" value={formatCount(c.intermediateSize)} />
          <Row label="Attention heads" value={`${c.numHeads} (kv ${c.numKvHeads}, head dim ${c.headDim})`} />
          <Row label="Vocabulary" value={formatCount(c.vocabSize)} testId="model-vocab" />
          <Row label="RoPE" value={rope(c)} />
          <Row label="RMS norm ε" value={Number(c.rmsNormEps.toPrecision(6)).toString()} />
          <Row label="Tied embeddings" value={c.tieWordEmbeddings ? 'yes' : 'no'} />
          <Row
            label="Parameters"
            value={
              <>
                {formatCount(f.parameters)}
                {f.storedParameters !== f.parameters && <span className="muted"> ({formatCount(f.storedParameters)} values stored)</span>}
              </>
            }
            testId="model-parameters"
          />
          <Row label="Bits per weight" value={f.bitsPerWeight.toFixed(2)} testId="model-bpw" />
          <Row label="File size" value={formatBytes(f.fileBytes)} testId="model-size" />
          <Row
            label="Tokenizer"
            value={
              'problem' in f.tokenizer ? (
                <span className="bad-text">none — {f.tokenizer.problem}</span>
              ) : (
                `${f.tokenizer.kind}, vocab ${formatCount(f.tokenizer.vocabSize)}`
              )
            }
            testId="model-tokenizer"
          />
          {!('problem' in f.tokenizer) && (
            <>
              <Row
                label="Chat template"
                value={f.tokenizer.chatTemplate ? 'yes: chat data and Generate\'s chat mode use it' : 'none (a base model): chats need the plain User:/Assistant: layout'}
                testId="model-chat-template"
              />
              <Row label="BOS / EOS" value={specials(f.tokenizer)} testId="model-specials" />
            </>
          )}
          <Row
            label="Opened from"
            value={
              <>
                {opened.length === 1 ? opened[0] : `${opened.length} files`}
                {ignored.length > 0 && <span className="muted"> ({ignored.length} other dropped file{ignored.length === 1 ? '' : 's'} not used)</span>}
              </>
            }
          />
        </tbody>
      </table>

      <h3>Tensor types</h3>
      <table className="grid" data-testid="tensor-types">
        <thead>
          <tr>
            <th>Type</th>
            <th className="num">Tensors</th>
            <th className="num">Values</th>
            <th className="num">Size</th>
          </tr>
        </thead>
        <tbody>
          {types.map(([type, n]) => (
            <tr key={type}>
              <td className="mono">{type}</td>
              <td className="num">{formatCount(n.tensors)}</td>
              <td className="num">{formatCount(n.parameters)}</td>
              <td className="num">{formatBytes(n.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <TrainingMemory memory={f.trainingMemory} />
    </>
  );
}
