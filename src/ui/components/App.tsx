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
import { SavedRuns } from './SavedRuns.tsx';
import { TrainPanel } from './TrainPanel.tsx';

export function App() {
  return (
    <div className="app">
      <Header />
      {/* Every panel is page content, so all of them sit in <main> (landmark navigation finds them). */}
      <main>
        <div className="columns">
          <div className="stack">
            <DropArea />
            <HubPanel />
            <ModelCard />
          </div>
          {/* The GPU panel keeps its details, limits and self-test figures folded, and Generate / Perplexity show
              their settings only once a model is loaded: else the first screen at 1280×900 ends above Fine-tune. */}
          <div className="stack">
            <GeneratePanel />
            <PerplexityPanel />
            <GpuPanel />
          </div>
        </div>
        <TrainPanel />
        <SavedRuns />
        <ExportPanel />
      </main>
    </div>
  );
}
