// The worker's teacher-load (Repair quantization), without a GPU: the teacher
// file is opened and checked against the current model before it is kept. A
// teacher with another vocabulary and a quantized one are refused with a
// DistillTeacherError naming both models; a float teacher is kept and reported
// (a later refusal drops it, so no run uses a teacher the page no longer shows).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { GpuContext } from '../../src/gpu/device.ts';
import { handlers } from '../../src/worker/handlers.ts';
import type { HandlerEnv, HandlerIO } from '../../src/worker/handler_env.ts';
import { loadModel } from '../../src/worker/load_model.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import { teacherOf } from '../../src/worker/repair.ts';
import { fixture } from '../helpers/fixtures.ts';

const STUDENT = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const F32 = fixture('models/stories260K.gguf');
const Q41 = fixture('models/stories260K-quantized/stories260K-q4_1.gguf');
const OTHER_VOCAB = fixture('tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf');

const ref = (path: string) => ({ path: basename(path), file: new File([readFileSync(path)], basename(path)) });
const io = { progress() {}, stream() {}, signal: new AbortController().signal } as HandlerIO<'teacher-load'>;
const failureOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Error);

describe.skipIf(!STUDENT || !F32 || !Q41 || !OTHER_VOCAB)('teacher-load', () => {
  it('refuses another vocabulary and a quantized teacher naming both; keeps a float one for the model\'s runs', async () => {
    const slot = new ModelSlot();
    await loadModel([ref(STUDENT!)], slot, () => {});
    const env: HandlerEnv = { getContext: () => Promise.resolve({ lost: new Promise(() => {}) } as unknown as GpuContext), models: slot };
    const load = (path: string) => handlers['teacher-load']({ type: 'teacher-load', files: [ref(path)] }, io, env);
    const settings = { repair: { teacher: 'file' as const }, bits: null };

    const vocab = await failureOf(load(OTHER_VOCAB!));
    expect(vocab?.name).toBe('DistillTeacherError');
    expect(vocab?.message).toBe("teacher ggml-vocab-llama-spm.gguf cannot distill into student stories260K-q4_0.gguf: its vocabulary has 32000 tokens, the student's 512");

    const quantized = await failureOf(load(Q41!));
    expect(quantized?.name).toBe('DistillTeacherError');
    expect(quantized?.message).toMatch(/^teacher stories260K-q4_1\.gguf cannot distill into student stories260K-q4_0\.gguf: it is quantized \(.* is Q4_1\)/);

    const r = await load(F32!);
    expect(r).toMatchObject({ name: 'stories260K.gguf', opened: ['stories260K.gguf'], types: ['F32'], vocab: 512 });
    expect(teacherOf(slot.current!, settings)?.name).toBe('stories260K.gguf');
    // The student itself (Q4_0) cannot be its own teacher.
    expect(() => teacherOf(slot.current!, { repair: { teacher: 'self' }, bits: 2 })).toThrow(/stories260K-q4_0\.gguf: it is quantized/);

    // A refused teacher leaves none kept.
    await failureOf(load(OTHER_VOCAB!));
    expect(() => teacherOf(slot.current!, settings)).toThrow(/no teacher file is loaded for stories260K-q4_0\.gguf/);
  });
});
