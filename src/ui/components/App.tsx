// The page: header, then the model (drop area above its card) and the GPU panel side by side.
import { DropArea } from './DropArea.tsx';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';
import { ModelCard } from './ModelCard.tsx';

export function App() {
  return (
    <div className="app">
      <Header />
      <main className="columns">
        <div className="stack">
          <DropArea />
          <ModelCard />
        </div>
        <GpuPanel />
      </main>
    </div>
  );
}
