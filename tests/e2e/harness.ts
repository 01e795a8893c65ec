// Shared set-up of the browser tests: build the app with Vite into a temp
// folder, serve it with `vite preview` on a free port, and open Debian's
// Chromium (fresh profile) with WebGPU on SwiftShader or with WebGPU off.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build, preview } from 'vite';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM = '/usr/bin/chromium';

export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const msg = `${CHROMIUM} not found (apt-get install chromium)`;
  if (process.env.SUB4_REQUIRE_FIXTURES === '1') throw new Error(`${msg}; SUB4_REQUIRE_FIXTURES=1 makes this a failure`);
  console.warn(`SKIP: ${msg}`);
}

const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const WEBGPU_ON = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];
export const WEBGPU_OFF = ['--disable-gpu', '--disable-features=WebGPU'];

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

/** The built app served locally, plus everything the tests opened; close() removes it all. */
export interface AppHarness {
  url: string;
  /** The production build the app is served from (what `npm run build` writes). */
  outDir: string;
  /** Chromium with a fresh profile; its console errors and page errors go to the test output. */
  launch(extra: string[]): Promise<{ browser: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function startApp(): Promise<AppHarness> {
  const outDir = await mkdtemp(join(tmpdir(), 'sub4-dist-'));
  const dirs = [outDir];
  const browsers: BrowserContext[] = [];
  // The bundle users get: Vitest sets NODE_ENV=test, which Vite and the React
  // plugin would otherwise bake into the app (React's development build and JSX
  // runtime, 660 kB instead of 400 kB). So the build runs with NODE_ENV=production.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root: ROOT, mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  const port = await freePort();
  const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true, open: false } });
  return {
    url: `http://127.0.0.1:${port}/`,
    outDir,
    async launch(extra) {
      const profile = await mkdtemp(join(tmpdir(), 'sub4-chromium-'));
      dirs.push(profile);
      // Playwright owns --user-data-dir, so the fresh profile goes through launchPersistentContext.
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: false, // headless comes from Chromium's own --headless=new below
        viewport: { width: 1280, height: 900 },
        args: ['--headless=new', '--no-sandbox', ...extra, ...QUIET],
      });
      browsers.push(browser);
      const page = browser.pages()[0] ?? (await browser.newPage());
      page.on('console', (m) => {
        if (m.type() === 'error') console.error(`[browser console] ${m.text()}`);
      });
      page.on('pageerror', (e) => console.error(`[browser pageerror] ${e.name}: ${e.message}`));
      return { browser, page };
    },
    async close() {
      for (const b of browsers) await b.close();
      await server.close();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Wait until the GPU self-test shows a final word, whichever it is, and return it. */
export async function finalSelftestStatus(page: Page, timeout = 120_000): Promise<string | null> {
  await page.waitForFunction(
    () => /^(passed|failed|error)$/.test(document.querySelector('[data-testid="selftest-status"]')?.textContent ?? ''),
    undefined,
    { timeout, polling: 500 },
  );
  return page.getByTestId('selftest-status').textContent();
}

/**
 * A page of the studio on SwiftShader WebGPU, with test-results/ ready for
 * screenshots. Waits for the GPU self-test to finish first: on SwiftShader it
 * takes both cores, which would blur any timing taken while it runs.
 */
export async function openStudio(app: AppHarness): Promise<Page> {
  await mkdir(join(ROOT, 'test-results'), { recursive: true });
  const { page } = await app.launch(WEBGPU_ON);
  await page.goto(app.url);
  await finalSelftestStatus(page);
  return page;
}

/**
 * Drop a file on the element matching `selector`. A real OS drag cannot be
 * scripted, so this dispatches dragover + drop carrying a DataTransfer; the
 * app's drop handlers take its files the same way.
 */
export async function dropFile(page: Page, selector: string, name: string, content: string | number[], type = ''): Promise<void> {
  await page.evaluate(
    ({ selector, name, content, type }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([typeof content === 'string' ? content : new Uint8Array(content)], name, { type }));
      const target = document.querySelector(selector);
      if (!target) throw new Error(`dropFile: nothing matches ${selector}`);
      for (const kind of ['dragover', 'drop']) target.dispatchEvent(new DragEvent(kind, { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { selector, name, content, type },
  );
}

/**
 * A studio page with the model at `modelPath` picked and loaded, and `data` dropped on the training panel;
 * then the PEQA 4-bit preset chosen and the Advanced settings opened, where most tests set their run.
 */
export async function studioWithRun(app: AppHarness, modelPath: string, data: { name: string; text: string; type: string }): Promise<Page> {
  const page = await openStudio(app);
  await page.getByTestId('pick-files').setInputFiles(modelPath);
  await page.waitForFunction(`document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, undefined, { timeout: 60_000, polling: 100 });
  await dropFile(page, '[data-testid="train-data-drop"]', data.name, data.text, data.type);
  await page.getByTestId('train-preset-peqa4').click();
  await page.locator('[data-testid="train-advanced"] > summary').click();
  return page;
}
