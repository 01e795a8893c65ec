// The worker protocol end to end without a browser: the real client and the
// real message loop (serve.ts) talk over a Node MessageChannel, with the real
// handlers on a Dawn device. Checks results, progress, and that errors arrive
// with their class name, message, stack and fields. It backs the browser test
// in tests/e2e/app.test.ts; load-model is covered by tests/e2e/load-model.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { GpuLimitError, GpuUnavailableError } from '../../src/gpu/errors.ts';
import { EngineClient, type WorkerLike } from '../../src/worker/client.ts';
import type { HandlerEnv } from '../../src/worker/handlers.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import { deserializeError, serializeError, type ProgressEvent } from '../../src/worker/protocol.ts';
import { serve, type EnginePort } from '../../src/worker/serve.ts';
import { gpu } from '../helpers/gpu.ts';

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

function connect(env: Pick<HandlerEnv, 'getContext'>): EngineClient {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  serve(port2 as unknown as EnginePort, { ...env, models: new ModelSlot() });
  const client = new EngineClient(port1 as unknown as WorkerLike);
  port1.start();
  port2.start();
  return client;
}

describe('error serialization', () => {
  it('keeps class name, message, stack, own fields and cause', () => {
    const cause = new GpuUnavailableError('no adapter');
    const original = new GpuLimitError('binding too large', 'maxStorageBufferBindingSize', 300, 256);
    (original as { cause?: unknown }).cause = cause;
    const wire = structuredClone(serializeError(original));
    const back = deserializeError(wire) as Error & { limit?: string; requested?: number; allowed?: number };
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe('GpuLimitError');
    expect(back.message).toBe('binding too large');
    expect(back.stack).toBe(original.stack);
    expect([back.limit, back.requested, back.allowed]).toEqual(['maxStorageBufferBindingSize', 300, 256]);
    expect((back.cause as Error).name).toBe('GpuUnavailableError');
  });

  it('turns thrown non-errors into readable errors', () => {
    expect(deserializeError(serializeError('plain text')).message).toBe('plain text');
    expect(deserializeError(serializeError(42)).message).toBe('42');
  });
});

describe('client ⇄ serve over a MessageChannel', () => {
  it('answers gpu-info and selftest on a real device, with progress', async () => {
    const client = connect({ getContext: async (p) => (p?.('device', 1, 1), gpu()) });
    const info = await client.request({ type: 'gpu-info' });
    expect(info.adapter.vendor + info.adapter.architecture + info.adapter.description).not.toBe('');
    expect(info.limits.maxBufferSize).toBeGreaterThan(0);

    const events: ProgressEvent[] = [];
    const r = await client.request({ type: 'selftest' }, (e) => events.push(e));
    expect(r.passed).toBe(true);
    expect(r.maxRelError).toBeLessThanOrEqual(r.tolerance);
    expect(r.gflops).toBeGreaterThan(0);
    expect(events.map((e) => `${e.phase} ${e.done}/${e.total}`)).toEqual(['device 1/1', 'selftest 0/1', 'selftest 1/1']);
    expect(client.inFlight).toBe(0);
  });

  it('rejects with the engine error rebuilt, worker stack included', async () => {
    const client = connect({
      getContext: async () => {
        throw new GpuUnavailableError('WebGPU found no usable GPU adapter.');
      },
    });
    const err = await client.request({ type: 'selftest' }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.name).toBe('GpuUnavailableError');
    expect(err!.message).toBe('WebGPU found no usable GPU adapter.');
    expect(err!.stack).toContain('worker-protocol.test.ts');
    expect(client.inFlight).toBe(0);
  });

  it('names an unknown request type instead of hanging', async () => {
    const client = connect({ getContext: () => gpu() });
    const bogus = { type: 'no-such-request' } as unknown as { type: 'gpu-info' };
    await expect(client.request(bogus)).rejects.toMatchObject({ name: 'TypeError', message: expect.stringContaining('no-such-request') });
  });

  it('fails every waiting request when the worker dies', async () => {
    const listeners: Record<string, (ev: Event) => void> = {};
    const dead: WorkerLike = {
      postMessage: () => {},
      addEventListener(type: string, fn: (ev: never) => void) {
        listeners[type] = fn as (ev: Event) => void;
      },
    };
    const client = new EngineClient(dead);
    const a = client.request({ type: 'gpu-info' });
    const b = client.request({ type: 'selftest' });
    listeners.error(Object.assign(new Event('error'), { message: 'SyntaxError in engine.worker.js' }));
    await expect(a).rejects.toMatchObject({ name: 'EngineWorkerError', message: expect.stringContaining('SyntaxError in engine.worker.js') });
    await expect(b).rejects.toMatchObject({ name: 'EngineWorkerError' });
    await expect(client.request({ type: 'gpu-info' })).rejects.toMatchObject({ name: 'EngineWorkerError' });
  });
});
