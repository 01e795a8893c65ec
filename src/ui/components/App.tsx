// The page: header; the model (drop area and the Hub field above its card) on the left; on the
// right what to do with it (generate, perplexity) above the GPU panel; below,
// across the page, fine-tuning it (the loss chart wants the width), and exporting
// the trained run once a run has finished.
import { DropArea } from './DropArea.tsx';
import { ExportPanel } from './ExportPanel.tsx';
import { GeneratePanel } from './GeneratePanel.tsx';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';
import { HubPanel } from './HubPanel.tsx';
import { ModelCard } from './ModelCard.tsx';
import { PerplexityPanel } from './PerplexityPanel.tsx';
import { TrainPanel } from './TrainPanel.tsx';

export function App() {
  return (
    <div className="app">
      <Header />
      <main className="columns">
        <div className="stack">
          <DropArea />
          <HubPanel />
          <ModelCard />
        </div>
        <div className="stack">
          <GeneratePanel />
          <PerplexityPanel />
          <GpuPanel />
        </div>
      </main>
      <TrainPanel />
      <ExportPanel />
    </div>
  );
}
