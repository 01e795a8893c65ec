// The engine worker: owns the one GPU device of the page and answers typed
// requests from src/worker/client.ts (loop in serve.ts, work in handlers.ts),
// and holds the current model. Long work (GPU, reading model files) runs here
// so the page stays responsive. No React, no DOM.
import { createGpuContext, type GpuContext } from '../gpu/device.ts';
import { browserShaders } from '../gpu/shaders.browser.ts';
import type { HandlerEnv } from './handler_env.ts';
import { ModelSlot } from './model_slot.ts';
import { serve, type EnginePort } from './serve.ts';

let context: Promise<GpuContext> | null = null;

const env: HandlerEnv = {
  models: new ModelSlot(),
  getContext(onProgress) {
    if (!context) {
      onProgress?.('device', 0, 1);
      const pending = createGpuContext({
        gpu: navigator.gpu,
        shaders: browserShaders,
        missingHint:
          'Use Chrome or Edge 113+ with hardware acceleration on (chrome://gpu says why WebGPU is off), or a browser with WebGPU turned on.',
      });
      context = pending;
      pending.then(
        (ctx) => {
          // A lost device is gone for good: forget it so the next request makes a new one.
          void ctx.lost.then((lostErr) => {
            if (context === pending) context = null;
            console.error(lostErr.message);
          });
        },
        // A failed start is not cached either: the user may fix the browser and retry.
        () => {
          if (context === pending) context = null;
        },
      );
    }
    return context.then((ctx) => {
      onProgress?.('device', 1, 1);
      return ctx;
    });
  },
};

// Browser tests simulate a driver reset mid-run through this (tests/e2e/device_loss.test.ts; page.workers()
// evaluate in the worker). Destroying the worker's own device is what a reset does to it, and the engine
// recovers from that, so it exposes nothing a page could misuse.
(self as unknown as { sub4LoseDevice: () => Promise<boolean> }).sub4LoseDevice = async () => {
  const ctx = await context?.catch(() => null);
  ctx?.destroy();
  return !!ctx;
};

serve(self as unknown as EnginePort, env);
