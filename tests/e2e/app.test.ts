// The app in a real browser: build with Vite, serve with `vite preview`, open
// Debian's Chromium on SwiftShader WebGPU, and check that the engine worker
// found an adapter and that its matmul self-test passed; then open it in a
// Chromium with WebGPU off and check the page says so in plain words.
// Screenshots go to test-results/ (app-gpu-panel.png, app-no-gpu.png).
// Loading models is tested in model.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { finalSelftestStatus, haveChromium, ROOT, startApp, WEBGPU_OFF, WEBGPU_ON, type AppHarness } from './harness.ts';

const SCREENSHOT = join(ROOT, 'test-results/app-gpu-panel.png');

describe.skipIf(!haveChromium)('app in Chromium', () => {
  let app: AppHarness;

  beforeAll(async () => {
    app = await startApp();
    await mkdir(join(ROOT, 'test-results'), { recursive: true });
  });

  afterAll(async () => {
    await app?.close();
  });

  describe('with SwiftShader WebGPU', () => {
    let page: Page;
    beforeAll(async () => {
      page = (await app.launch(WEBGPU_ON)).page;
    });

    it('finds a WebGPU adapter and the in-worker matmul self-test passes', async () => {
      await page.goto(app.url);
      const status = await finalSelftestStatus(page);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`GPU panel as shown:\n${await page.getByTestId('gpu-panel').innerText()}`);

      expect((await page.getByTestId('adapter-name').textContent())?.trim()).not.toBe('');
      expect(status).toBe('passed');
      expect(await page.getByText('PASSED', { exact: true }).count()).toBe(1);
    });

    it('lists picked files by name and size, and a model that is not one shows why', async () => {
      await page.getByTestId('pick-files').setInputFiles([
        { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"model_type":"llama"}') },
        { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3000) },
      ]);
      const list = page.getByTestId('file-list');
      await expect.poll(() => list.innerText()).toContain('model.safetensors');
      const text = await list.innerText();
      expect(text).toContain('config.json');
      expect(text).toContain('22 B');
      expect(text).toContain('2.93 KiB');
      expect(await page.getByTestId('files-note').innerText()).toMatch(/Received 2 files .*nothing is uploaded/);
      // config.json lacks every size field: the engine names the file and the first missing one.
      await expect.poll(() => page.getByTestId('model-status').textContent()).toBe('error');
      const note = await page.getByTestId('model-error').innerText();
      expect(note).toContain('ConfigError');
      expect(note).toMatch(/config\.json: field "\w+" is missing/);
    });
  });

  it('says in plain words when the browser has no WebGPU', async () => {
    const { page } = await app.launch(WEBGPU_OFF);
    await page.goto(app.url);
    expect(await finalSelftestStatus(page)).toBe('error');
    await page.screenshot({ path: join(ROOT, 'test-results/app-no-gpu.png'), fullPage: true });
    const note = await page.getByTestId('gpu-panel').getByRole('alert').innerText();
    console.log(`error shown:\n${note}`);
    expect(note).toContain('No GPU is available to sub4');
    expect(note).toMatch(/WebGPU (is not available|found no usable GPU adapter)/);
    expect(note).toContain('GpuUnavailableError');
    expect((await page.getByTestId('adapter-name').textContent())?.trim()).toBe('');
  });
});
