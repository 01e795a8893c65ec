// The app in a real browser: build with Vite, serve with `vite preview`, open
// Debian's Chromium on SwiftShader WebGPU, and check that the engine worker
// found an adapter and that its matmul self-test passed; then open it in a
// Chromium with WebGPU off and check the page says so in plain words.
// Screenshots go to test-results/ (app-gpu-panel.png, app-no-gpu.png).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'test-results/app-gpu-panel.png');
const SELFTEST_TIMEOUT_MS = 120_000;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const msg = `${CHROMIUM} not found (apt-get install chromium)`;
  if (process.env.SUB4_REQUIRE_FIXTURES === '1') throw new Error(`${msg}; SUB4_REQUIRE_FIXTURES=1 makes this a failure`);
  console.warn(`SKIP: ${msg}`);
}

/** A port nobody listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WEBGPU_ON = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];
const WEBGPU_OFF = ['--disable-gpu', '--disable-features=WebGPU'];

/** Chromium with a fresh profile; its console errors and page errors go to the test output. */
async function launch(extra: string[], profiles: string[]): Promise<{ browser: BrowserContext; page: Page }> {
  const profile = await mkdtemp(join(tmpdir(), 'sub4-chromium-'));
  profiles.push(profile);
  // Playwright owns --user-data-dir, so the fresh profile goes through launchPersistentContext.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false, // headless comes from Chromium's own --headless=new below
    viewport: { width: 1280, height: 900 },
    args: ['--headless=new', '--no-sandbox', ...extra, ...QUIET],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[browser console] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[browser pageerror] ${e.name}: ${e.message}`));
  return { browser, page };
}

/** Wait until the self-test shows a final word, whichever it is, and return it. */
async function finalSelftestStatus(page: Page): Promise<string | null> {
  await page.waitForFunction(
    () => /^(passed|failed|error)$/.test(document.querySelector('[data-testid="selftest-status"]')?.textContent ?? ''),
    undefined,
    { timeout: SELFTEST_TIMEOUT_MS, polling: 500 },
  );
  return page.getByTestId('selftest-status').textContent();
}

describe.skipIf(!haveChromium)('app in Chromium', () => {
  let outDir = '';
  const profiles: string[] = [];
  const browsers: BrowserContext[] = [];
  let server: PreviewServer | undefined;
  let url = '';

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sub4-dist-'));
    await build({ root: ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const port = await freePort();
    server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true, open: false } });
    url = `http://127.0.0.1:${port}/`;
    await mkdir(join(ROOT, 'test-results'), { recursive: true });
  });

  afterAll(async () => {
    for (const b of browsers) await b.close();
    await server?.close();
    for (const dir of [outDir, ...profiles]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('with SwiftShader WebGPU', () => {
    let page: Page;
    beforeAll(async () => {
      const launched = await launch(WEBGPU_ON, profiles);
      browsers.push(launched.browser);
      page = launched.page;
    });

    it('finds a WebGPU adapter and the in-worker matmul self-test passes', async () => {
      await page.goto(url);
      const status = await finalSelftestStatus(page);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`GPU panel as shown:\n${await page.getByTestId('gpu-panel').innerText()}`);

      expect((await page.getByTestId('adapter-name').textContent())?.trim()).not.toBe('');
      expect(status).toBe('passed');
      expect(await page.getByText('PASSED', { exact: true }).count()).toBe(1);
    });

    it('lists picked files by name and size and says model loading is not built yet', async () => {
      await page.locator('input[type=file][multiple]').setInputFiles([
        { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"model_type":"llama"}') },
        { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3000) },
      ]);
      const list = page.getByTestId('file-list');
      await expect.poll(() => list.innerText()).toContain('model.safetensors');
      const text = await list.innerText();
      expect(text).toContain('config.json');
      expect(text).toContain('22 B');
      expect(text).toContain('2.93 KiB');
      expect(await page.getByTestId('files-note').innerText()).toMatch(/Received 2 files .*not built yet/);
    });
  });

  it('says in plain words when the browser has no WebGPU', async () => {
    const { browser, page } = await launch(WEBGPU_OFF, profiles);
    browsers.push(browser);
    await page.goto(url);
    expect(await finalSelftestStatus(page)).toBe('error');
    await page.screenshot({ path: join(ROOT, 'test-results/app-no-gpu.png'), fullPage: true });
    const note = await page.getByRole('alert').innerText();
    console.log(`error shown:\n${note}`);
    expect(note).toContain('No GPU is available to sub4');
    expect(note).toMatch(/WebGPU (is not available|found no usable GPU adapter)/);
    expect(note).toContain('GpuUnavailableError');
    expect((await page.getByTestId('adapter-name').textContent())?.trim()).toBe('');
  });
});
