// Generate panel: a prompt and sampling settings, Generate and Stop, and the
// continuation streaming in as the engine worker makes each token. Disabled
// until a model is loaded. Once a training run has finished, a choice between
// the base and the tuned model (default tuned: the run just trained is what a
// user wants to try). The work runs in the worker (actions.generateText); this
// renders the store's generation slice.
import { useState, type FormEvent } from 'react';
import { generateText, stopGeneration } from '../../state/actions.ts';
import type { GenerateState } from '../../state/slices/generate.ts';
import { runTrained } from '../../state/slices/train.ts';
import type { StopReason } from '../../worker/protocol.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatCount } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { NumberField, parseNumber } from './Field.tsx';
import { runPhaseText } from '../phases.ts';

const STOPPED: Record<StopReason, string> = {
  eos: 'the model ended the text',
  length: 'max tokens reached',
  context: "the model's context is full",
  cancelled: 'stopped early',
};

function statusWord(g: GenerateState): string {
  if (g.status === 'running') return g.stopping ? 'stopping' : 'running';
  if (g.status === 'done' && g.result?.stopReason === 'cancelled') return 'stopped';
  return g.status;
}

function Stats({ g }: { g: GenerateState }) {
  if (g.status === 'running' && g.tokens === 0) return <>{runPhaseText(g.progress)}</>;
  const n = `${formatCount(g.tokens)} token${g.tokens === 1 ? '' : 's'}`;
  const r = g.result;
  if (!r) return <>{n}…</>;
  return (
    <>
      {n} at{' '}
      <strong data-testid="generate-speed" data-value={r.tokensPerSecond}>
        {r.tokensPerSecond.toFixed(1)} tokens/s
      </strong>{' '}
      (prompt {formatCount(r.promptTokens)} tokens, first token after {Math.round(r.prefillMs)} ms) — {STOPPED[r.stopReason]}
      {r.model === 'tuned' ? ' (tuned model)' : ''}.
    </>
  );
}

export function GeneratePanel() {
  const { client, store } = useServices();
  const ready = useAppStore((s) => s.model.status === 'ready');
  const g = useAppStore((s) => s.generation);
  // A finished run of the model loaded now (a later load leaves the run behind).
  const tunedReady = useAppStore((s) => runTrained(s.train.run) && s.train.run.loadId === s.model.loadId);
  const [weights, setWeights] = useState<'base' | 'tuned'>('tuned');
  const [prompt, setPrompt] = useState('Once upon a time');
  const [maxTokens, setMaxTokens] = useState('128');
  const [temperature, setTemperature] = useState('0.8');
  const [topK, setTopK] = useState('40');
  const [topP, setTopP] = useState('0.95');
  const [seed, setSeed] = useState('0');
  // Chat mode exists only where the model has a chat template; it starts on there (a chat model is prompted in turns).
  const hasTemplate = useAppStore((s) => !!s.model.facts && 'chatTemplate' in s.model.facts.tokenizer && s.model.facts.tokenizer.chatTemplate);
  const [chat, setChat] = useState(true);
  const running = g.status === 'running';

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    void generateText(client, store, {
      prompt,
      maxTokens: parseNumber(maxTokens),
      temperature: parseNumber(temperature),
      topK: parseNumber(topK),
      topP: parseNumber(topP),
      seed: parseNumber(seed),
      model: tunedReady ? weights : 'base',
      chat: hasTemplate && chat,
    });
  };

  const word = statusWord(g);
  return (
    // data-run-id lets tests (and devtools) tell one run from the next.
    <section className="panel" data-testid="generate-panel" data-run-id={g.runId}>
      <h2 className="with-badge">
        Generate{' '}
        <span className={`badge ${word}`} data-testid="generate-status" role="status" data-stop={g.result?.stopReason ?? ''}>
          {word}
        </span>
      </h2>
      {!ready && <p className="muted">Load a model to generate text with it.</p>}
      <form onSubmit={submit}>
        <fieldset disabled={!ready}>
          <label className="field wide">
            <span>Prompt</span>
            <textarea rows={3} value={prompt} data-testid="prompt" onChange={(ev) => setPrompt(ev.target.value)} />
          </label>
          {hasTemplate && (
            <label className="check" title="the prompt goes in as one user turn of the model's chat template, and the model answers as the assistant">
              <input type="checkbox" checked={chat} data-testid="generate-chat" onChange={(ev) => setChat(ev.target.checked)} />
              Chat: send the prompt as a user turn (the model's chat template)
            </label>
          )}
          {tunedReady && (
            <label className="field">
              <span>Model</span>
              <select value={weights} data-testid="generate-model" onChange={(ev) => setWeights(ev.target.value as 'base' | 'tuned')}>
                <option value="tuned">Tuned (the last training run)</option>
                <option value="base">Base</option>
              </select>
            </label>
          )}
          {/* The sampling settings appear with a model: before, they only pushed the page down (1280×900). */}
          {ready && (
          <div className="fields">
            <NumberField label="Max tokens" value={maxTokens} onChange={setMaxTokens} testId="max-tokens" min={1} />
            <NumberField label="Temperature" value={temperature} onChange={setTemperature} testId="temperature" min={0} step="any" title="0 = greedy: always the most likely token" />
            <NumberField label="Top-k" value={topK} onChange={setTopK} testId="top-k" min={0} title="keep the k most likely tokens; 0 = off" />
            <NumberField label="Top-p" value={topP} onChange={setTopP} testId="top-p" min={0} max={1} step="any" title="keep the most likely tokens up to this probability; 1 = off" />
            <NumberField label="Seed" value={seed} onChange={setSeed} testId="seed" min={0} title="the same seed and settings give the same text" />
          </div>
          )}
          <div className="buttons left">
            <button type="submit" className="primary" data-testid="generate" disabled={running}>
              Generate
            </button>
            <button type="button" data-testid="stop" disabled={!running || g.stopping} onClick={() => stopGeneration(store)}>
              Stop
            </button>
          </div>
        </fieldset>
      </form>
      {g.error && <ErrorNote title="Generation failed" error={g.error} />}
      {g.status !== 'idle' && !g.error && (
        <>
          <pre className="output" data-testid="generate-box">
            <span className="muted">{g.prompt}</span>
            <span data-testid="generate-output">{g.text}</span>
            {running && <span className="cursor" aria-hidden="true" />}
          </pre>
          <p className="note" data-testid="generate-stats">
            <Stats g={g} />
          </p>
        </>
      )}
    </section>
  );
}
