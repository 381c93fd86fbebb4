/**
 * The operator's dashboard in a real browser (Debian's Chromium driven by playwright-core),
 * against the real daemon (the bundle, as it ships) forwarding to the edge Pulsar through the
 * link simulator: the page shows the link up, then down with a growing backlog while the link
 * is cut, then up again with the backlog draining; black-holed when nothing comes back; it fits a phone; it says so when the daemon
 * goes away and comes back by itself; and it loads nothing from anywhere but the daemon.
 *
 * Screenshots go to test/artifacts/ (git-ignored).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, type DaemonHandle } from '../support/daemon.ts';
import { LinkSimulator } from '../support/link-sim.ts';
import { requireEnv } from '../support/stack-env.ts';

const ARTIFACTS = join(repoRoot, 'test', 'artifacts');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir = '';
let link: LinkSimulator;
let daemon: DaemonHandle;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];
const timings: Record<string, number> = {};

function since(t0: number): number {
  return Date.now() - t0;
}

async function text(p: Page, testId: string): Promise<string> {
  return ((await p.getByTestId(testId).textContent()) ?? '').trim();
}

/** `backlog-records` is an integer with ',' as the thousands separator. */
async function backlogRecords(p: Page): Promise<number> {
  const shown = await text(p, 'backlog-records');
  expect(shown).toMatch(/^\d{1,3}(,\d{3})*$/);
  return Number(shown.replaceAll(',', ''));
}

/** Waits until the page shows `state` as the link state; returns how long it took. */
async function waitForLink(p: Page, state: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await expect.poll(() => text(p, 'link-state'), { timeout: timeoutMs, interval: 100 }).toBe(state);
  return since(t0);
}

function watch(p: Page): void {
  p.on('request', (request) => requests.push(request.url()));
  p.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
  p.on('console', (message) => {
    // The browser logs the event stream's refused reconnects while the daemon is down (on purpose, below).
    if (message.type() === 'error' && !/^Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)/.test(message.text())) {
      pageErrors.push(`console: ${message.text()}`);
    }
  });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'skyhaul-dashboard-'));
  const edge = new URL(requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'));
  link = new LinkSimulator({ target: { host: edge.hostname, port: Number(edge.port) } });
  await link.start();
  const site = `dash-${randomUUID().slice(0, 8)}`;
  const t0 = Date.now();
  [daemon, browser] = await Promise.all([
    startDaemon({
      dir,
      config: {
        // Markup in API strings must reach the page as text.
        site: { id: site, name: 'Dashboard test <img src=x onerror=alert(1)>' },
        forward: { url: link.url('http'), deadLinkTimeout: '5s', backoff: { initial: '200ms', max: '1s' } },
        streams: [
          { match: 'syn/weather/wxt536', expectedInterval: '5s' },
          // Declared, never speaks: shows as a stale instrument (and raises instrument_stale).
          { match: 'site/never-spoke', expectedInterval: '10s' },
        ],
        alarms: { linkDown: '3s' },
        inputs: [{ type: 'synthetic', name: 'syn', rateScale: 5 }],
      },
    }),
    chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }),
  ]);
  timings.startMs = since(t0);
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  watch(page);
});

afterAll(async () => {
  await browser?.close();
  await daemon?.kill('SIGTERM');
  await link?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  console.log(`dashboard timings (ms): ${JSON.stringify(timings)}`);
});

describe('operator dashboard', () => {
  it('shows the link up with data flowing', async () => {
    const t0 = Date.now();
    await page.goto(`${daemon.url}/`);
    timings.upShownMs = await waitForLink(page, 'up', 20_000);
    await expect.poll(() => text(page, 'connection')).toBe('live');
    // Ingest is running: the rate shows a positive number.
    await expect.poll(async () => Number(await page.getByTestId('ingest-rate').getAttribute('data-value')), { timeout: 10_000 }).toBeGreaterThan(10);
    expect(await text(page, 'instruments')).toContain('syn/mount/encoders');
    expect(await text(page, 'instruments')).toContain('NEVER');
    expect(await page.getByTestId('backlog-chart').locator('svg path.backlog-line').count()).toBe(1);
    expect(await text(page, 'disk-gauge')).toMatch(/of quota/);
    expect(await text(page, 'site')).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    timings.pageUpMs = since(t0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-up.png') });
  });

  it('shows the link down and a growing backlog when the link is cut', async () => {
    const t0 = Date.now();
    link.cut();
    timings.downShownMs = await waitForLink(page, 'down', 15_000);
    const first = await backlogRecords(page);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const second = await backlogRecords(page);
    expect(second).toBeGreaterThan(first);
    expect(await text(page, 'drain-eta')).toBe('not draining');
    // The link-down alarm (threshold 3 s) arrives over the event stream.
    await expect.poll(() => text(page, 'alarms'), { timeout: 10_000 }).toMatch(/link down for/);
    timings.backlogWhileDown = await backlogRecords(page);
    timings.downPhaseMs = since(t0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-down.png') });
  });

  it('shows the link up again and the backlog draining after restore', async () => {
    const t0 = Date.now();
    const peak = await backlogRecords(page);
    link.restore();
    timings.upAgainShownMs = await waitForLink(page, 'up', 15_000);
    await expect.poll(() => backlogRecords(page), { timeout: 30_000, interval: 250 }).toBeLessThan(Math.min(100, peak / 4));
    timings.drainedMs = since(t0);
    await expect.poll(() => text(page, 'alarms'), { timeout: 10_000 }).not.toMatch(/link down for/);
    // Let the chart show the recovery before the picture.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-restored.png') });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-restored-full.png'), fullPage: true });
  });

  it('shows the link black-holed when nothing comes back, and up after restore', async () => {
    link.blackhole();
    // Detected by the daemon's dead-link timeout (5 s here).
    timings.blackholedShownMs = await waitForLink(page, 'blackholed', 20_000);
    expect(await text(page, 'drain-eta')).toMatch(/^(not draining|empty)$/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-blackholed.png') });
    link.restore();
    timings.upAfterBlackholeMs = await waitForLink(page, 'up', 20_000);
  });

  it('fits a phone: single column, no horizontal scroll at 390 px', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    watch(phone);
    await phone.goto(`${daemon.url}/`);
    await waitForLink(phone, 'up', 10_000);
    await expect.poll(() => text(phone, 'connection')).toBe('live');
    expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png') });
    await phone.screenshot({ path: join(ARTIFACTS, 'dashboard-phone-full.png'), fullPage: true });
    await phone.close();
  });

  it('says "disconnected from daemon" when the event stream drops, and reconnects by itself', async () => {
    const t0 = Date.now();
    await daemon.kill('SIGTERM');
    await expect.poll(() => text(page, 'connection'), { timeout: 10_000, interval: 100 }).toBe('disconnected from daemon');
    expect(await page.getByTestId('disconnected').isVisible()).toBe(true);
    timings.disconnectShownMs = since(t0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-disconnected.png') });
    const t1 = Date.now();
    await daemon.restart();
    await daemon.waitReady();
    await expect.poll(() => text(page, 'connection'), { timeout: 20_000, interval: 100 }).toBe('live');
    expect(await page.getByTestId('disconnected').isVisible()).toBe(false);
    await waitForLink(page, 'up', 15_000);
    timings.reconnectedMs = since(t1);
  });

  it('loaded nothing from outside the daemon and raised no script errors', () => {
    expect(requests.length).toBeGreaterThan(3);
    const external = requests.filter((url) => new URL(url).hostname !== '127.0.0.1');
    expect(external).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
