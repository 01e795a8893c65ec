// App entry: one store, one engine worker, startup actions, then React.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { startup } from './state/actions.ts';
import { createAppStore } from './state/store.ts';
import { App } from './ui/components/App.tsx';
import { AppContext } from './ui/hooks/useAppStore.ts';
import { createEngineClient } from './worker/client.ts';
import './ui/styles.css';

const store = createAppStore();
const client = createEngineClient();
// Started here, not in an effect, so StrictMode's double mount cannot run it twice.
void startup(client, store);

const services = { store, client };

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <AppContext.Provider value={services}>
      <App />
    </AppContext.Provider>
  </StrictMode>,
);
