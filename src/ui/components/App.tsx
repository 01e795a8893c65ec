// The page: header; the model (drop area above its card) on the left; on the
// right what to do with it (generate, perplexity) above the GPU panel.
import { DropArea } from './DropArea.tsx';
import { GeneratePanel } from './GeneratePanel.tsx';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';
import { ModelCard } from './ModelCard.tsx';
import { PerplexityPanel } from './PerplexityPanel.tsx';

export function App() {
  return (
    <div className="app">
      <Header />
      <main className="columns">
        <div className="stack">
          <DropArea />
          <ModelCard />
        </div>
        <div className="stack">
          <GeneratePanel />
          <PerplexityPanel />
          <GpuPanel />
        </div>
      </main>
    </div>
  );
}
