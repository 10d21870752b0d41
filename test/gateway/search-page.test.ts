/**
 * The search page (gateway/web/, served by handlers/search-page.ts), driven in
 * Debian's Chromium the way an archivist would use it, against the search kit's
 * gateway (real handlers, real index, real presigned GETs on the test RGW):
 * token, substring / glob / SHA-256 / regex searches, paging, the volume view
 * and list, API errors, a hostile path shown as text, another site's reader
 * seeing nothing of lab-1, and downloads whose bytes are checked end to end
 * (and refused when S3's bytes do not match the SHA-256). The browser tests
 * run one after another (one Chromium at a time) and are skipped only when
 * /usr/bin/chromium is not installed.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Page } from 'playwright-core';
import { ROOT } from '../helpers/processes.js';
import { type SearchGateway, startSearchGateway } from './search-kit.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is not installed: apt-get install chromium (infra/install.sh)`;
const browserTest = missing ? test.serial.skip : test.serial;
const named = (title: string) => (missing ? `${title} [SKIPPED: ${missing}]` : title);

const TIMEOUT_MS = 30_000;
const SCREENSHOT = path.join(ROOT, 'var/screenshots/search-page.png');

interface Row {
  site: string;
  vsn: string;
  path: string;
  session: string;
  bytes: number;
  size: string;
  copies: number;
  copiesText: string;
}

interface SearchPage {
  page: Page;
  /** Messages of every dialog the page opened (each dismissed). */
  dialogs: string[];
  /** Uncaught page errors and CSP / Trusted Types refusals. */
  problems: string[];
  /** Suggested names of every download the page started. */
  downloads: string[];
}

/** The page's size display, as search.js computes it. */
function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

const sha256 = async (b: Buffer) => (await import('node:crypto')).createHash('sha256').update(b).digest('hex');

/** path -> VSN for lab-1, from what the kit put in. */
function vsnOf(gw: SearchGateway): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of gw.manifests) if (m.site === 'lab-1') for (const f of m.files) out.set(f.path, m.vsn);
  return out;
}

/** A fresh Chromium (closed at teardown) on the gateway's /search. */
async function openSearch(t: ExecutionContext, gw: SearchGateway): Promise<SearchPage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: TIMEOUT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  context.setDefaultNavigationTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  const sp: SearchPage = { page, dialogs: [], problems: [], downloads: [] };
  page.on('dialog', (d) => {
    sp.dialogs.push(d.message());
    void d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => sp.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // 4xx answers are logged as "Failed to load resource": expected when testing errors.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) sp.problems.push(m.text());
  });
  page.on('download', (d) => sp.downloads.push(d.suggestedFilename()));
  const res = await page.goto(`${gw.url}/search`);
  t.is(res?.status(), 200);
  await page.locator('#app').waitFor();
  return sp;
}

/** Runs `action` and waits until the page has loaded what it asked for (or shown an error). */
async function settle(page: Page, action: () => Promise<unknown>): Promise<void> {
  const before = Number(await page.locator('#app').getAttribute('data-seq'));
  await action();
  await page.waitForFunction((b) => {
    const app = (globalThis as any).document.getElementById('app');
    return Number(app.dataset.seq) > b && app.dataset.state !== 'loading';
  }, before);
}

/** Reloads the page and waits until it has loaded what its URL asks for. */
async function reload(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => {
    const app = (globalThis as any).document.getElementById('app');
    return Number(app?.dataset.seq) >= 1 && app.dataset.state !== 'loading';
  });
}

async function useToken(page: Page, token: string): Promise<void> {
  await page.getByLabel('Reader token').fill(token);
  await settle(page, () => page.locator('#save-token').click());
}

async function search(page: Page, mode: 'q' | 'glob' | 'regex' | 'sha256' | 'path', term: string): Promise<void> {
  await page.getByLabel('Match').selectOption(mode);
  await page.getByLabel('Search for').fill(term);
  await settle(page, () => page.locator('#search-button').click());
}

async function state(page: Page): Promise<string | null> {
  return page.locator('#app').getAttribute('data-state');
}

async function rows(page: Page): Promise<Row[]> {
  return page.locator('#files-body [data-testid="file-row"]').evaluateAll((trs: any[]) =>
    trs.map((tr) => {
      const size = tr.querySelector('[data-testid="size"]');
      const copies = tr.querySelector('[data-testid="copies"]');
      return {
        site: tr.dataset.site,
        vsn: tr.querySelector('[data-testid="vsn-link"]').textContent,
        path: tr.querySelector('[data-testid="path"]').textContent,
        session: tr.dataset.session,
        bytes: Number(size.dataset.bytes),
        size: size.textContent,
        copies: Number(copies.dataset.count),
        copiesText: copies.textContent,
      };
    }),
  );
}

/** Every row over every page, following "Next page" until there is none. */
async function allPages(page: Page, limit: number, t: ExecutionContext): Promise<Row[]> {
  const out: Row[] = [];
  for (let n = 1; ; n++) {
    const got = await rows(page);
    t.true(got.length <= limit, `page ${n} holds at most ${limit} rows`);
    out.push(...got);
    if (!(await page.locator('#next-page').isVisible())) return out;
    t.true(n < 100, 'paging ends');
    await settle(page, () => page.locator('#next-page').click());
    t.is(await state(page), 'ready');
  }
}

async function errorShown(page: Page): Promise<{ code: string; message: string }> {
  await page.locator('#error-box').waitFor({ state: 'visible' });
  return {
    code: (await page.locator('#error-code').textContent()) ?? '',
    message: (await page.locator('#error-message').textContent()) ?? '',
  };
}

/** The newest download's entry once it has ended, when the list holds `count` entries. */
async function downloadEnded(page: Page, count: number) {
  await page.waitForFunction((n) => {
    const items = (globalThis as any).document.querySelectorAll('#download-list [data-testid="download-item"]');
    return items.length === n && items[0].dataset.state !== 'running';
  }, count);
  return page.locator('#download-list [data-testid="download-item"]').first();
}

const key = (r: Pick<Row, 'site' | 'vsn' | 'path'>) => `${r.site} ${r.vsn} ${r.path}`;

test('the gateway serves the page with a strict CSP that lets downloads reach S3', async (t) => {
  const gw = await startSearchGateway(t);
  const root = await fetch(`${gw.url}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/search');

  const html = await fetch(`${gw.url}/search`);
  t.is(html.status, 200);
  t.regex(html.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
  t.is(html.headers.get('cache-control'), 'no-cache');
  t.is(html.headers.get('x-content-type-options'), 'nosniff');
  const csp = html.headers.get('content-security-policy') ?? '';
  const directives = new Map(
    csp.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values] as const;
    }),
  );
  t.deepEqual(directives.get('default-src'), ["'self'"]);
  t.deepEqual(directives.get('script-src'), ["'self'"]);
  t.deepEqual(directives.get('img-src'), ["'self'", 'data:', 'blob:']);
  t.deepEqual(directives.get('object-src'), ["'none'"]);
  t.deepEqual(directives.get('require-trusted-types-for'), ["'script'"]);
  // connect-src: this origin and the S3 endpoint presigned URLs point at.
  const files = await fetch(`${gw.url}/api/v1/files?path=night1%2Fm31.fits`, {
    headers: { authorization: `Bearer ${gw.token}` },
  });
  t.is(files.status, 200);
  const hit = ((await files.json()) as { files: { restore: { ranges: { url: string }[] } }[] }).files[0]!;
  const s3Origin = new URL(hit.restore.ranges[0]!.url).origin;
  t.deepEqual(directives.get('connect-src'), ["'self'", s3Origin]);
  t.true((await html.text()).includes('<script type="module" src="/search/search.js">'));

  for (const [asset, type] of [
    ['search.js', /^text\/javascript; charset=utf-8/],
    ['search.css', /^text\/css; charset=utf-8/],
  ] as const) {
    const res = await fetch(`${gw.url}/search/${asset}`);
    t.is(res.status, 200, asset);
    t.regex(res.headers.get('content-type') ?? '', type);
    t.is(res.headers.get('cache-control'), 'no-cache');
    t.true((await res.text()).length > 1000, `${asset} has content`);
  }
});

browserTest(
  named('substring, glob, SHA-256 and regex searches show the expected rows; a bad regex shows BAD_QUERY'),
  async (t) => {
    const gw = await startSearchGateway(t);
    const vsns = vsnOf(gw);
    const { page, dialogs, problems } = await openSearch(t, gw);

    // Before a token: nothing is asked of the API, the page says what to do.
    t.is(await state(page), 'idle');
    t.regex((await page.locator('#status').textContent()) ?? '', /reader token/i);
    await useToken(page, gw.token);
    t.is(await page.locator('#token-state').getAttribute('data-state'), 'set');

    // Substring: ASCII case-insensitive.
    await search(page, 'q', 'm31');
    t.is(await state(page), 'ready');
    const expected = [...gw.files.keys()].filter((p) => p.toLowerCase().includes('m31'));
    const got = await rows(page);
    t.deepEqual(got.map((r) => r.path).sort(), [...expected].sort());
    t.true(got.some((r) => r.path === 'night1/m31.fits') && got.some((r) => r.path === 'night4/m31.fits'));
    for (const r of got) {
      const bytes = gw.files.get(r.path)!;
      t.is(r.site, 'lab-1');
      t.is(r.vsn, vsns.get(r.path)!, `${r.path}'s VSN`);
      t.is(r.bytes, bytes.length, `${r.path}'s size`);
      t.is(r.size, humanSize(bytes.length));
      t.is(r.copies, 2, `${r.path}'s copies`);
      t.regex(r.copiesText, /2 copies.*sr0.*shelf\/A1.*sr1.*shelf\/B7/s);
    }
    // the stable order: site, VSN, then the file's place in its volume's manifest
    const place = (r: Row) => {
      const m = gw.manifests.find((v) => v.site === r.site && v.vsn === r.vsn)!;
      return [r.site, r.vsn, String(m.files.findIndex((f) => f.path === r.path)).padStart(8, '0')].join(' ');
    };
    t.deepEqual(
      got.map(place),
      [...got].map(place).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      'rows come in site, VSN, manifest order',
    );
    t.regex(page.url(), /#search\?q=m31$/, 'the search is in the URL hash');

    // The hash is the state: a reload shows the same rows (the token stays for the tab).
    await reload(page);
    t.deepEqual((await rows(page)).map(key), got.map(key));
    t.is(await page.getByLabel('Search for').inputValue(), 'm31');

    await fs.mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = await fs.readFile(SCREENSHOT);
    t.true(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
    t.true(png.length > 20_000, `the screenshot is not blank (${png.length} bytes)`);

    // Glob over the whole path.
    await search(page, 'glob', 'night*/m31.fits');
    t.deepEqual(
      (await rows(page)).map((r) => r.path),
      ['night1/m31.fits', 'night4/m31.fits'],
    );

    // SHA-256 (typed in upper case, as people paste it).
    const digest = await sha256(gw.files.get('night4/m31.fits')!);
    await search(page, 'sha256', digest.toUpperCase());
    const bySha = await rows(page);
    t.deepEqual(
      bySha.map((r) => [r.path, r.vsn]),
      [['night4/m31.fits', vsns.get('night4/m31.fits')]],
    );
    t.regex(page.url(), new RegExp(`sha256=${digest}`));

    // Exact path.
    await search(page, 'path', 'night1/notes.txt');
    t.deepEqual(
      (await rows(page)).map((r) => r.path),
      ['night1/notes.txt'],
    );

    // A regex that works, and one that cannot compile.
    await search(page, 'regex', '^night[14]/m31\\.fits$');
    t.deepEqual(
      (await rows(page)).map((r) => r.path),
      ['night1/m31.fits', 'night4/m31.fits'],
    );
    await search(page, 'regex', '(');
    t.is(await state(page), 'error');
    const err = await errorShown(page);
    t.is(err.code, 'BAD_QUERY');
    t.true(err.message.length > 0, 'the API message is shown');
    t.is(await page.locator('#files-body [data-testid="file-row"]').count(), 0);
    t.false(await page.locator('#files-wrap').isVisible());

    // A search that finds nothing says so.
    await search(page, 'q', 'no-such-file-anywhere');
    t.is(await state(page), 'ready');
    t.false(await page.locator('#error-box').isVisible());
    t.is(await page.locator('#status').textContent(), 'No files match.');

    t.deepEqual(dialogs, []);
    t.deepEqual(problems, []);
  },
);

browserTest(named('paging with a small limit in the URL shows every hit exactly once'), async (t) => {
  const gw = await startSearchGateway(t);
  const { page, problems } = await openSearch(t, gw);
  await useToken(page, gw.token);

  // Every lab-1 path has "night" in it.
  const everything = [...gw.files.keys()].sort();
  t.true(everything.every((p) => p.includes('night')));
  await settle(page, () => page.goto(`${gw.url}/search#search?q=night&limit=3`));
  t.is(await page.locator('#f-limit').inputValue(), '3');
  const first = await rows(page);
  t.is(first.length, 3);
  const seen = await allPages(page, 3, t);
  t.is(seen.length, everything.length, 'as many rows as files');
  t.deepEqual(seen.map((r) => r.path).sort(), everything, 'every file once, none twice');
  t.is(new Set(seen.map(key)).size, seen.length);
  t.regex((await page.locator('#page-info').textContent()) ?? '', /end of results/);
  t.regex(page.url(), /cursor=/, 'the page is in the URL');

  // Back to the first page, and the browser's Back goes to the page before.
  await settle(page, () => page.locator('#first-page').click());
  t.deepEqual((await rows(page)).map(key), first.map(key));
  t.false(await page.locator('#first-page').isVisible());
  await settle(page, () => page.locator('#next-page').click());
  const second = await rows(page);
  await settle(page, () => page.goBack());
  t.deepEqual((await rows(page)).map(key), first.map(key));
  await settle(page, () => page.goForward());
  t.deepEqual((await rows(page)).map(key), second.map(key));

  // Paging through a glob scan the same way.
  await settle(page, () => page.goto(`${gw.url}/search#search?glob=night4%2Fframes%2F*&limit=5`));
  t.false(await page.locator('#incomplete').isVisible(), 'a complete page says nothing of time budgets');
  const frames = await allPages(page, 5, t);
  t.deepEqual(
    frames.map((r) => r.path),
    everything.filter((p) => p.startsWith('night4/frames/')),
  );

  // A scan that stopped at its time budget (the kit's index is too small to make one: the answer is altered).
  const firstGlobPage = (u: URL) =>
    u.pathname === '/api/v1/files' && u.searchParams.has('glob') && !u.searchParams.has('cursor');
  await page.route(firstGlobPage, async (route) => {
    const res = await route.fetch();
    const body = (await res.json()) as { files: unknown[]; next: string | null };
    t.truthy(body.next);
    await route.fulfill({ response: res, json: { ...body, files: body.files.slice(0, 2), complete: false } });
  });
  await settle(page, () => page.locator('#first-page').click());
  t.true(await page.locator('#incomplete').isVisible(), 'the page says the scan stopped at its time budget');
  t.regex((await page.locator('#incomplete').textContent()) ?? '', /time budget/);
  t.is((await rows(page)).length, 2);
  t.true(await page.locator('#next-page').isVisible());
  await settle(page, () => page.locator('#next-page').click());
  t.false(await page.locator('#incomplete').isVisible());
  await page.unroute(firstGlobPage);
  t.deepEqual(problems, []);
});

browserTest(named('a VSN link opens the volume view with its files; the volumes list filters by date'), async (t) => {
  const gw = await startSearchGateway(t);
  const { page, problems } = await openSearch(t, gw);
  await useToken(page, gw.token);
  const vsns = vsnOf(gw);

  await search(page, 'path', 'night4/m31.fits');
  const vsn = vsns.get('night4/m31.fits')!;
  await settle(page, () => page.locator('[data-testid="file-row"] [data-testid="vsn-link"]').first().click());
  t.is(await state(page), 'ready');
  t.true(await page.locator('#volume-panel').isVisible());
  t.is(await page.locator('#volume-title').textContent(), `Volume ${vsn}`);
  t.is(await page.locator('#volume-site').textContent(), 'site lab-1');
  const details = (await page.locator('#volume-details').textContent()) ?? '';
  t.regex(details, /bd-r/);
  t.regex(details, new RegExp(`${vsn} label`));
  t.regex((await page.locator('[data-testid="volume-copies"]').textContent()) ?? '', /copy 1: drive sr0, shelf\/A1/);
  const inVolume = [...vsns]
    .filter(([, v]) => v === vsn)
    .map(([p]) => p)
    .sort();
  const listed = await rows(page);
  t.deepEqual(listed.map((r) => r.path).sort(), inVolume);
  t.true(listed.every((r) => r.vsn === vsn && r.site === 'lab-1'));

  // The volume's files, paged.
  await settle(page, () => page.goto(`${gw.url}/search#volume?site=lab-1&vsn=${vsn}&limit=4`));
  t.is(await page.locator('#volume-title').textContent(), `Volume ${vsn}`);
  const paged = await allPages(page, 4, t);
  t.deepEqual(paged.map((r) => r.path).sort(), inVolume);
  t.is(new Set(paged.map(key)).size, inVolume.length);

  // A volume that does not exist.
  await settle(page, () => page.goto(`${gw.url}/search#volume?site=lab-1&vsn=NOSUCH01`));
  t.is((await errorShown(page)).code, 'NOT_FOUND');

  // The volumes list, and "new since".
  await settle(page, () => page.locator('#nav-volumes').click());
  const volumeRows = () =>
    page
      .locator('#volumes-body [data-testid="volume-row"]')
      .evaluateAll((trs: any[]) => trs.map((tr) => `${tr.dataset.site} ${tr.dataset.vsn}`));
  t.deepEqual(
    await volumeRows(),
    gw.vsns.map((v) => `lab-1 ${v}`),
  );
  const since = '2026-03-01';
  const newer = gw.manifests
    .filter((m) => m.site === 'lab-1' && m.createdAt >= since)
    .map((m) => `lab-1 ${m.vsn}`)
    .sort();
  t.true(newer.length > 0 && newer.length < gw.vsns.length, 'the kit has volumes on both sides of the date');
  await page.locator('#v-newSince').fill(since);
  await settle(page, () => page.locator('#volumes-button').click());
  t.deepEqual(await volumeRows(), newer);
  t.regex(page.url(), /#volumes\?newSince=2026-03-01$/);
  await settle(page, () => page.locator('#volumes-body [data-testid="vsn-link"]').first().click());
  t.is(await page.locator('#volume-title').textContent(), `Volume ${newer[0]!.split(' ')[1]}`);
  t.deepEqual(problems, []);
});

browserTest(named("a hostile path is shown as text; another site's reader sees nothing of lab-1"), async (t) => {
  const gw = await startSearchGateway(t);
  const hostile = [...gw.files.keys()].find((p) => p.includes('<script>'));
  t.truthy(hostile, 'the kit has a path with markup in it');
  const { page, dialogs, problems } = await openSearch(t, gw);
  await useToken(page, gw.token);

  await search(page, 'q', 'script');
  const found = await rows(page);
  t.deepEqual(
    found.map((r) => r.path),
    [hostile!],
  );
  t.is(await page.locator('#files-body [data-testid="path"]').first().textContent(), hostile!);
  t.is(await page.locator('#files script, #files b').count(), 0, 'no element was made from the path');
  // The hostile path in the hash and back: reload, then an exact-path search.
  await search(page, 'path', hostile!);
  await reload(page);
  t.deepEqual(
    (await rows(page)).map((r) => r.path),
    [hostile!],
  );
  t.is(await page.getByLabel('Search for').inputValue(), hostile!);

  // Another site's reader.
  await settle(page, () => page.locator('#forget-token').click());
  t.is(await page.locator('#token-state').getAttribute('data-state'), 'unset');
  await useToken(page, gw.otherToken);
  await search(page, 'q', 'm31');
  const other = await rows(page);
  t.true(other.length > 0, "lab-2's own files are found");
  t.true(
    other.every((r) => r.site === 'lab-2'),
    'only lab-2 rows',
  );
  t.false(other.some((r) => gw.files.has(r.path) && r.site === 'lab-1'));
  await search(page, 'q', 'night');
  t.deepEqual(await rows(page), [], 'nothing of lab-1');
  await page.locator('#filters summary').click();
  await page.locator('#f-site').fill('lab-1');
  await settle(page, () => page.locator('#search-button').click());
  t.is((await errorShown(page)).code, 'FORBIDDEN_SITE');
  await settle(page, () => page.goto(`${gw.url}/search#volume?site=lab-1&vsn=${gw.vsns[0]}`));
  t.is((await errorShown(page)).code, 'FORBIDDEN_SITE');
  t.false(await page.locator('#volume-details').isVisible());
  await settle(page, () => page.goto(`${gw.url}/search#volumes`));
  const sites = await page
    .locator('#volumes-body [data-testid="volume-row"]')
    .evaluateAll((trs: any[]) => trs.map((tr) => tr.dataset.site));
  t.true(sites.length > 0 && sites.every((s) => s === 'lab-2'));

  // A token the gateway does not know.
  await useToken(page, 'not-a-token');
  t.is((await errorShown(page)).code, 'UNAUTHORIZED');

  t.deepEqual(dialogs, [], 'no script ran');
  t.deepEqual(problems, []);
});

browserTest(named('Download fetches the ranges from S3, checks the SHA-256 and saves the exact bytes'), async (t) => {
  const gw = await startSearchGateway(t);
  const { page, dialogs, problems, downloads } = await openSearch(t, gw);
  await useToken(page, gw.token);

  const hostile = [...gw.files.keys()].find((p) => p.includes('<script>'))!;
  const multiExtent = 'night2/big-cube.fits';
  const empty = [...gw.files].find(([, b]) => b.length === 0)?.[0];
  const wanted = ['night1/m31.fits', multiExtent, hostile, ...(empty ? [empty] : [])];
  for (const p of wanted) {
    await search(page, 'path', p);
    t.deepEqual(
      (await rows(page)).map((r) => r.path),
      [p],
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('[data-testid="file-row"] [data-testid="download"]').first().click(),
    ]);
    const saved = await fs.readFile((await download.path())!);
    t.true(saved.equals(gw.files.get(p)!), `${p}: the saved bytes are the file's (${saved.length} bytes)`);
    const item = await downloadEnded(page, downloads.length);
    t.is(await item.getAttribute('data-state'), 'done');
    t.is(await item.getAttribute('data-path'), p);
    t.regex((await item.locator('[data-testid="download-status"]').textContent()) ?? '', /SHA-256 verified/);
    const progress = item.locator('progress');
    t.is(await progress.getAttribute('value'), await progress.getAttribute('max'), 'the progress bar is full');
    if (saved.length > 0) t.is(Number(await progress.getAttribute('max')), saved.length);
  }
  t.is(downloads.length, wanted.length);

  // S3 answering other bytes: refused, nothing saved.
  await page.route(
    (url) => url.origin !== gw.url,
    async (route) => {
      const res = await route.fetch();
      const body = await res.body();
      if (body.length > 0) body[0]! ^= 0xff;
      await route.fulfill({ response: res, body });
    },
  );
  await search(page, 'path', 'night1/m31.fits');
  await page.locator('[data-testid="file-row"] [data-testid="download"]').first().click();
  const failed = await downloadEnded(page, wanted.length + 1);
  t.is(await failed.getAttribute('data-state'), 'error');
  t.regex((await failed.locator('[data-testid="download-status"]').textContent()) ?? '', /^SHA256_MISMATCH: /);
  t.true((await failed.locator('details.curl').count()) === 1, 'the curl fallback is offered');
  t.is(downloads.length, wanted.length, 'nothing more was saved');

  t.deepEqual(dialogs, []);
  t.deepEqual(problems, []);
});
