// The page: header, then the model drop area and the GPU panel side by side.
import { DropArea } from './DropArea.tsx';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';

export function App() {
  return (
    <div className="app">
      <Header />
      <main className="columns">
        <DropArea />
        <GpuPanel />
      </main>
    </div>
  );
}
