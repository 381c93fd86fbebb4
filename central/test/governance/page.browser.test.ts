/**
 * The operator page in a real browser (Debian's Chromium driven by playwright-core) against the
 * real governance service, RabbitMQ, Kafka and edge daemon: sign in with a token, the sites with
 * their last report, send a command and see it finish, an observer sees no send form, text from
 * sites stays text, and the page loads nothing from anywhere but the service.
 *
 * Screenshots go to test/artifacts/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../packaging/dev-stack/stack.ts';
import { ControlRig, OPERATORS } from './support.ts';

const ARTIFACTS = join(repoRoot, 'test', 'artifacts');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let rig: ControlRig;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];

async function signIn(p: Page, token: string): Promise<void> {
  await p.locator('#token').fill(token);
  await p.locator('#signin').click();
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [rig, browser] = await Promise.all([new ControlRig().start(), chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS })]);
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.close();
});

describe('operator page', () => {
  it('signs in, lists the site with its last report, sends a command and shows it done', async () => {
    await page.goto(`${rig.governance.url}/`);
    expect(await page.locator('#whoami').textContent()).toBe('Not signed in.');
    await signIn(page, OPERATORS.alice.token);
    await expect.poll(() => page.locator('#whoami').textContent()).toMatch(/Signed in as alice \(operator\)/);
    const row = page.locator(`#sites tbody tr[data-site="${rig.site}"]`);
    await expect.poll(() => row.locator('td.link').textContent(), { timeout: 20_000 }).toBe('up');
    expect(await row.locator('td.report-age').textContent()).toMatch(/s ago$/);

    await page.locator('#send-site').selectOption(rig.site);
    await page.locator('#send-command').selectOption('bandwidth');
    expect(await page.locator('#send-help').textContent()).toMatch(/bandwidth cap/);
    await page.locator('#send-params').fill('{"bytesPerSecond": 24576}');
    await page.locator('#send-button').click();
    await expect.poll(() => page.locator('#send-result').textContent()).toMatch(new RegExp(`^bandwidth to ${rig.site}: (accepted|delivered|done)`));
    const state = page.locator('#commands tbody tr').first().locator('td.state');
    await expect.poll(() => state.textContent(), { timeout: 20_000 }).toBe('done');
    expect((await rig.edgeStatus()).forwarding.bandwidthBytesPerSecond).toBe(24_576);
    await page.screenshot({ path: join(ARTIFACTS, 'governance-page.png') });
  });

  it('shows what sites say as text, never as markup', async () => {
    const markup = '<img src=x onerror=alert(1)>';
    await page.locator('#send-command').selectOption('replay');
    await page.locator('#send-params').fill(JSON.stringify({ stream: markup, fromSequence: 1, toSequence: 2 }));
    await page.locator('#send-button').click();
    const first = page.locator('#commands tbody tr').first();
    await expect.poll(() => first.locator('td.state').textContent(), { timeout: 20_000 }).toBe('failed');
    expect(await first.locator('td.detail').textContent()).toContain(`no stream '${markup}'`);
    expect(await page.locator('img').count()).toBe(0);
  });

  it('gives an observer no send form, and forgets the token on sign-out', async () => {
    await page.locator('#signout').click();
    expect(await page.locator('#whoami').textContent()).toBe('Not signed in.');
    await signIn(page, OPERATORS.olga.token);
    await expect.poll(() => page.locator('#whoami').textContent()).toMatch(/olga \(observer\)/);
    expect(await page.locator('#send-section').isHidden()).toBe(true);
    await expect.poll(() => page.locator(`#sites tbody tr[data-site="${rig.site}"]`).count()).toBe(1);
    await signIn(page, 'not-a-token');
    await expect.poll(() => page.locator('#whoami').textContent()).toMatch(/Not signed in: the token was refused/);
  });

  it('loaded nothing from anywhere but the service, without script errors', () => {
    const origin = new URL(rig.governance.url).origin;
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    // A refused token answers 401: the browser logs that failed resource, nothing else may fail.
    expect(pageErrors.filter((e) => !/status of 401/.test(e))).toEqual([]);
  });
});
