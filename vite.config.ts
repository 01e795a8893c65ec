// Vite config for the sub4 app: React page + one ES-module engine worker.
// Host and port are fixed so `npm start` and the e2e test agree on where the
// app lives; the test passes its own free port to preview().
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  // The engine worker imports modules (shaders, gpu code), so it must be an ES worker.
  // keepNames: typed errors take their `name` from the class (src/gpu/errors.ts) and
  // that name crosses the worker boundary; minified class names would turn
  // GpuUnavailableError into 't'.
  worker: { format: 'es', rolldownOptions: { output: { keepNames: true } } },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: { target: 'es2022', sourcemap: true, rolldownOptions: { output: { keepNames: true } } },
});
