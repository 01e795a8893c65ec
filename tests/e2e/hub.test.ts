// The studio's Hub field in Chromium against the local test hub (127.0.0.1, its
// own origin, so every request is CORS): nothing is requested before the user
// asks; list a GGUF repo; a download cut mid-file fails plainly and the retry
// resumes it by Range with a progress bar; the model loads; after a reload the
// cache panel loads it again with no request at all; delete the cache; a gated
// repo without a token, with one (kept out of localStorage until "remember"),
// a missing file, and Stop on a stalled download. Screenshot: test-results/app-hub.png.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_TOKEN, GATED_REPO, GGUF_REPO, STALE_REPO, SAFETENSORS_REPO, fixtureRepos } from '../helpers/hub_repos.ts';
import { startTestHub, type TestHub } from '../helpers/hub_server.ts';
import { haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const repos = fixtureRepos();
const TIMEOUT = 60_000;

/** Wait until the model card shows a load newer than `before` that ended ready or error; return which. */
async function loadedAfter(page: Page, before: number): Promise<string> {
  await page.waitForFunction(
    (n) =>
      Number(document.querySelector('[data-testid="model-card"]')?.getAttribute('data-load-id')) > n &&
      /^(ready|error)$/.test(document.querySelector('[data-testid="model-status"]')?.textContent ?? ''),
    before,
    { timeout: TIMEOUT, polling: 50 },
  );
  return page.getByTestId('model-status').innerText();
}
const loadId = (page: Page) => page.evaluate(() => Number(document.querySelector('[data-testid="model-card"]')?.getAttribute('data-load-id') ?? 0));

async function list(page: Page, repo: string): Promise<void> {
  await page.getByTestId('hub-repo').fill(repo);
  await page.getByTestId('hub-list').click();
  await page.waitForSelector('[data-testid="hub-listing"], [data-testid="hub-list-error"]', { timeout: TIMEOUT });
}

describe.skipIf(!haveChromium || !repos)('Hub models in the studio', () => {
  let app: AppHarness;
  let hub: TestHub;
  let page: Page;
  beforeAll(async () => {
    hub = await startTestHub(repos!);
    app = await startApp();
    page = await openStudio(app);
  });
  afterAll(async () => {
    await app?.close();
    await hub?.close();
  });
  const since = (n: number) => hub.requests.slice(n);

  it('asks the Hub nothing until a repo is listed, then lists it with its GGUF choice', async () => {
    expect(hub.requests).toEqual([]);
    await page.getByText('Hub settings').click();
    await page.getByTestId('hub-endpoint').fill(hub.url);
    expect(hub.requests).toEqual([]);
    await list(page, GGUF_REPO);
    const text = await page.getByTestId('hub-listing').innerText();
    expect(text).toContain(`${GGUF_REPO}: 2 files`);
    expect(text).toContain('stories260K.gguf');
    expect(text).toContain('Download and load');
    expect(hub.requests.every((r) => r.path.startsWith(`/api/models/${GGUF_REPO}/tree/main`) || r.method === 'OPTIONS')).toBe(true);
  });

  it('a cut download fails plainly; the retry resumes by Range with progress, and the model loads', async () => {
    hub.cutNext(GGUF_REPO, 'stories260K.gguf', 400_000);
    await page.getByTestId('hub-choice-0').click();
    await page.waitForSelector('[data-testid="hub-download-error"]', { timeout: TIMEOUT });
    const err = await page.getByTestId('hub-download-error').innerText();
    expect(err).toContain('HubNetworkError');
    const kept = Number(/connection was cut after (\d+) of 1185376 bytes/.exec(err)?.[1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(400_000);
    await page.waitForFunction(() => /partly downloaded/.test(document.querySelector('[data-testid="hub-cache"]')?.textContent ?? ''));

    const n = hub.requests.length;
    const before = await loadId(page);
    // Record every value the bar shows, to see it move rather than jump from 0 to 100.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __bar: number[] }).__bar = seen;
      new MutationObserver(() => {
        const v = Number(document.querySelector('[data-testid="hub-progress"]')?.getAttribute('aria-valuenow'));
        if (seen[seen.length - 1] !== v) seen.push(v);
      }).observe(document.body, { subtree: true, attributes: true, childList: true });
    });
    await page.getByTestId('hub-choice-0').click();
    expect(await loadedAfter(page, before)).toBe('ready');
    const ranged = since(n).filter((r) => r.path.startsWith('/lfs-store/') && r.method === 'GET' && r.range !== 'bytes=0-0');
    expect(ranged.map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(await page.getByTestId('hub-progress').getAttribute('aria-valuenow')).toBe('100');
    const bar = await page.evaluate(() => (window as unknown as { __bar: number[] }).__bar);
    expect(bar[bar.length - 1]).toBe(100);
    // The bar starts at what was kept, not at 0.
    expect(bar.some((v) => v > 0 && v < 100)).toBe(true);
    expect(await page.getByTestId('model-facts').innerText()).toContain('llama');
    await page.screenshot({ path: join(ROOT, 'test-results', 'app-hub.png'), fullPage: true });
  });

  it('after a reload, the cache panel loads the model with no request', async () => {
    await page.reload();
    await page.waitForSelector('[data-testid="hub-cache-row"]', { timeout: TIMEOUT });
    expect(await page.getByTestId('hub-cache').innerText()).not.toContain('partly downloaded');
    const n = hub.requests.length;
    const before = await loadId(page);
    await page.getByTestId('hub-cache-load').first().click();
    expect(await loadedAfter(page, before)).toBe('ready');
    expect(await page.getByTestId('hub-download-note').innerText()).toContain("1 from the browser's cache (no request)");
    expect(since(n)).toEqual([]);
  });

  it('deletes the cache', async () => {
    await page.getByTestId('hub-cache-delete').first().click();
    await page.waitForSelector('[data-testid="hub-cache-empty"]', { timeout: TIMEOUT });
    // The blobs are gone from OPFS, not just from the panel.
    const left = await page.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('sub4-hub');
      const names: string[] = [];
      for await (const [name] of (dir as unknown as { entries(): AsyncIterable<[string, unknown]> }).entries()) names.push(name);
      return names;
    });
    expect(left).toEqual([]);
    await page.getByText('Hub settings').click();
    await page.getByTestId('hub-endpoint').fill(hub.url);
    await list(page, GGUF_REPO);
    expect(await page.getByTestId('hub-listing').innerText()).not.toContain('cached');
  });

  it('a gated repo: without a token a plain error; with one it lists, and the token stays out of storage unless remembered', async () => {
    await list(page, GATED_REPO);
    const err = await page.getByTestId('hub-list-error').innerText();
    expect(err).toContain('HubAuthError');
    expect(err).toContain('gated or private and needs an access token');
    await page.getByTestId('hub-token').fill(GATE_TOKEN);
    await list(page, GATED_REPO);
    expect(await page.getByTestId('hub-listing').innerText()).toContain('stories260K.gguf');
    expect(await page.evaluate(() => localStorage.getItem('sub4.hub.token'))).toBeNull();
    await page.getByTestId('hub-remember-token').check();
    expect(await page.evaluate(() => localStorage.getItem('sub4.hub.token'))).toBe(GATE_TOKEN);
    await page.getByTestId('hub-remember-token').uncheck();
    expect(await page.evaluate(() => localStorage.getItem('sub4.hub.token'))).toBeNull();
  });

  it('a missing file and a missing repo are said plainly', async () => {
    await list(page, STALE_REPO);
    await page.getByTestId('hub-choice-0').click();
    await page.waitForSelector('[data-testid="hub-download-error"]', { timeout: TIMEOUT });
    const err = await page.getByTestId('hub-download-error').innerText();
    expect(err).toContain('HubNotFoundError');
    expect(err).toContain(`${STALE_REPO}/gone.Q4_0.gguf: no such file in the repo`);
    await list(page, 'sub4-test/nothing-here');
    expect(await page.getByTestId('hub-list-error').innerText()).toContain('sub4-test/nothing-here: no such repo on the Hub');
  });

  it('Stop ends a stalled download plainly and keeps what arrived', async () => {
    await list(page, GGUF_REPO);
    hub.stallNext(GGUF_REPO, 'stories260K.gguf', 300_000);
    await page.getByTestId('hub-choice-0').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="hub-progress"]')?.getAttribute('aria-valuenow')) > 0, undefined, {
      timeout: TIMEOUT,
    });
    await page.getByTestId('hub-stop').click();
    await page.waitForSelector('[data-testid="hub-download-error"]', { timeout: TIMEOUT });
    const err = await page.getByTestId('hub-download-error').innerText();
    expect(err).toContain('CancelledError');
    expect(err).toContain(`${GGUF_REPO}/stories260K.gguf: download stopped; what arrived is kept`);
    await page.waitForFunction(() => /partly downloaded/.test(document.querySelector('[data-testid="hub-cache"]')?.textContent ?? ''));
  });

  it('a safetensors repo is offered as one set and loads as a folder, one bar over all its files', async () => {
    await list(page, SAFETENSORS_REPO);
    expect(await page.getByTestId('hub-listing').innerText()).toContain('safetensors (6 files)');
    const before = await loadId(page);
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __bar6: number[] }).__bar6 = seen;
      new MutationObserver(() => {
        const v = Number(document.querySelector('[data-testid="hub-progress"]')?.getAttribute('aria-valuenow'));
        if (seen[seen.length - 1] !== v) seen.push(v);
      }).observe(document.body, { subtree: true, attributes: true, childList: true });
    });
    await page.getByTestId('hub-choice-0').click();
    expect(await loadedAfter(page, before)).toBe('ready');
    expect(await page.getByTestId('file-list').innerText()).toContain('stories260K/model.safetensors');
    // The bar never goes back: its denominator is the whole set from the start, not the files begun so far.
    const bar = await page.evaluate(() => (window as unknown as { __bar6: number[] }).__bar6.filter((v) => !Number.isNaN(v)));
    expect(bar.length).toBeGreaterThan(1);
    expect(bar.every((v, i) => i === 0 || v >= bar[i - 1])).toBe(true);
  });
});
