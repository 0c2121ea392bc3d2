/**
 * The status page in a real browser (Debian's chromium, driven by
 * playwright-core): it loads with nothing from the internet, shows one row
 * and one live diagram per child, and follows a SIGHUP reload without being
 * reloaded itself. The screenshot is kept in test-output/ for people to see.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from '../helpers/repo.js';
import { killAllServers, startServer } from '../helpers/server.js';
import { statusUrl } from '../helpers/status.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = path.join(REPO_ROOT, 'test-output');

let browser: Browser | null = null;
after(async () => {
  await browser?.close();
  killAllServers();
});

test('the status page shows every child and follows a reload live', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium (or set CHROMIUM_PATH)`);
  const server = await startServer({ args: ['--processes', '3', '--fronts', '3', '--status-port', '0', 'integration_apps.app'] });
  const base = await statusUrl(server);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const foreign: string[] = [];
  const failed: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(base)) foreign.push(req.url());
  });
  page.on('requestfailed', (req) => failed.push(req.url()));
  page.on('pageerror', (err) => failed.push(`page error: ${err.message}`));

  await page.goto(`${base}/status`);
  await page.waitForFunction(() => document.querySelectorAll('#children tbody tr').length === 3);
  // Every child's diagram is drawn with its live state highlighted.
  await page.waitForFunction(() => document.querySelectorAll('.machine[data-machine^="child-"] .active').length === 3, undefined, { timeout: 20_000 });
  assert.equal(await page.textContent('[data-card="children"] .value'), '3 / 3');
  assert.equal(await page.getAttribute('.machine[data-machine="controller"]', 'data-state'), 'active_running_steady');
  assert.equal(await page.textContent('#health'), 'serving');
  const pids = await page.$$eval('#children tbody tr td:nth-child(3)', (tds) => tds.map((td) => Number(td.textContent)));

  // A marker that a page reload would wipe out.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  server.proc.kill('SIGHUP');
  await page.waitForFunction(() => document.body.dataset.generation === '2', undefined, { timeout: 20_000 });
  await page.waitForFunction(
    (old) => {
      const rows = [...document.querySelectorAll('#children tbody tr')];
      return rows.length === 3 && rows.every((r) => !old.includes(Number(r.children[2]!.textContent)));
    },
    pids,
    { timeout: 20_000 },
  );
  await page.waitForFunction(() => document.querySelectorAll('.machine[data-machine^="child-"] .active').length === 3, undefined, { timeout: 20_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was reloaded');
  assert.match((await page.textContent('#events')) ?? '', /reloaded: generation 2 is serving/);

  mkdirSync(OUTPUT, { recursive: true });
  const shot = path.join(OUTPUT, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(existsSync(shot));
  assert.deepEqual(foreign, [], 'the page loaded something from elsewhere');
  assert.deepEqual(failed, []);
  await server.stop();
});
