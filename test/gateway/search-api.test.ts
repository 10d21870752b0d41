/**
 * The search API as a client uses it, over HTTP, on both index backends:
 * every query kind, paging with cursors, restore links that download exactly
 * the file (multi-extent too), answers checked against the served OpenAPI
 * description, and hostile input: bad patterns, catastrophic regexes, long
 * queries, tampered cursors, SQL-looking text, other sites, bad tokens, and a
 * fuzzed query string that must never get a 500.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test, { type ExecutionContext } from 'ava';
import { HTTP_ROUTES } from '../../gateway/handlers/routes.js';
import { startLocalHost } from '../../gateway/host/local-host.js';
import { ReaderTokens } from '../../gateway/identity/reader-tokens.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { postgresMissing } from '../helpers/test-postgres.js';
import { rgwMissing } from '../helpers/test-rgw.js';
import { HOSTILE_PATH, type SearchGateway, startSearchGateway } from './search-kit.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];

const missing = (backend: Backend) => rgwMissing() ?? (backend === 'postgres' ? postgresMissing() : undefined);
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

interface Answer {
  status: number;
  body: any;
}

async function get(gw: SearchGateway, pathAndQuery: string, token: string | null = gw.token): Promise<Answer> {
  const r = await fetch(`${gw.url}${pathAndQuery}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body };
}

const files = (gw: SearchGateway, query: Record<string, string | number>, token?: string | null) =>
  get(
    gw,
    `/api/v1/files?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`,
    token,
  );

const paths = (a: Answer) => (a.body.files as { path: string }[]).map((f) => f.path);

/** Checks every answer against the served OpenAPI description's schemas. */
async function openapiValidator(gw: SearchGateway) {
  const doc = (await get(gw, '/api/v1/openapi.json', null)).body;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  return (t: ExecutionContext, route: string, a: Answer) => {
    const response = doc.paths[route].get.responses[String(a.status)];
    t.truthy(response, `${route} documents status ${a.status}`);
    const schema = JSON.parse(
      JSON.stringify(response.content['application/json'].schema).replaceAll('"#/components', '"openapi#/components'),
    );
    const ok = ajv.validate(schema, a.body);
    t.true(ok, `${route} ${a.status} matches the OpenAPI schema: ${ajv.errorsText()}`);
  };
}

function backendTest(title: string, fn: (t: ExecutionContext, gw: SearchGateway, backend: Backend) => Promise<void>) {
  for (const backend of BACKENDS) {
    const why = missing(backend);
    if (why) test.skip(`${backend}: ${title} (${why})`, () => {});
    else
      test(`${backend}: ${title}`, async (t) => {
        const gw = await startSearchGateway(t, { backend });
        await fn(t, gw, backend);
      });
  }
}

backendTest('finds files by substring, glob, regex, exact path, SHA-256, size and dates', async (t, gw) => {
  const check = await openapiValidator(gw);
  const q = await files(gw, { q: 'm31.fits' });
  t.is(q.status, 200);
  check(t, '/api/v1/files', q);
  t.deepEqual(paths(q), ['night1/m31.fits', 'night4/m31.fits'], 'across volumes, in order, never another site');
  t.true(q.body.complete);
  t.is(q.body.next, null);
  const hit = q.body.files[0];
  t.is(hit.vsn, 'OPT000001');
  t.is(hit.site, 'lab-1');
  t.is(hit.size, gw.files.get('night1/m31.fits')!.length);
  t.is(hit.sha256, sha256(gw.files.get('night1/m31.fits')!));
  t.deepEqual(
    hit.copies.map((c: { drive: string; medium: string }) => [c.drive, c.medium]),
    [
      ['sr0', 'shelf/A1'],
      ['sr1', 'shelf/B7'],
    ],
  );
  t.is(hit.modified, '2025-12-01T00:00:00.000Z');

  // substrings are ASCII case-insensitive
  t.deepEqual(paths(await files(gw, { q: 'M31' })), ['night1/m31.fits', 'night4/m31.fits', 'night4/M31-README.TXT']);
  // a substring may span directories and the name
  t.deepEqual(paths(await files(gw, { q: 'ght4/frames/frame-01' })), [
    'night4/frames/frame-010.raw',
    'night4/frames/frame-011.raw',
  ]);
  t.deepEqual(paths(await files(gw, { q: '1/m31' })), ['night1/m31.fits']);
  t.deepEqual(paths(await files(gw, { q: '/M3' })), ['night1/m31.fits', 'night4/m31.fits', 'night4/M31-README.TXT']);
  t.deepEqual(paths(await files(gw, { q: 'es/' })), paths(await files(gw, { glob: '*es/*' })));
  t.is(paths(await files(gw, { q: 'es/' })).length, 12);
  t.deepEqual(paths(await files(gw, { q: 'ght1/' })).length, 4);
  t.deepEqual(paths(await files(gw, { q: 'night1/m31.fitsx' })), []);
  // globs match the whole path, case-sensitively
  t.deepEqual(paths(await files(gw, { glob: 'night*/m31.fits' })), ['night1/m31.fits', 'night4/m31.fits']);
  t.deepEqual(paths(await files(gw, { glob: 'night4/frames/frame-00[0-2].raw' })), [
    'night4/frames/frame-000.raw',
    'night4/frames/frame-001.raw',
    'night4/frames/frame-002.raw',
  ]);
  t.deepEqual(paths(await files(gw, { glob: '*.TXT' })), ['night4/M31-README.TXT']);
  t.deepEqual(paths(await files(gw, { glob: 'm31.fits' })), [], 'a glob is anchored');
  // regexes search anywhere in the path
  t.deepEqual(paths(await files(gw, { regex: 'frame-01[01]\\.raw$' })), [
    'night4/frames/frame-010.raw',
    'night4/frames/frame-011.raw',
  ]);
  t.deepEqual(paths(await files(gw, { regex: '^night[12]/m\\d+\\.fits$' })), ['night1/m31.fits', 'night1/m42.fits']);
  // exact path and SHA-256
  t.deepEqual(paths(await files(gw, { path: 'night2/big-cube.fits' })), ['night2/big-cube.fits']);
  t.deepEqual(paths(await files(gw, { path: 'night2/big-cube' })), []);
  const m42 = gw.files.get('night1/m42.fits')!;
  t.deepEqual(paths(await files(gw, { sha256: sha256(m42).toUpperCase() })), ['night1/m42.fits']);
  // size range
  t.deepEqual(paths(await files(gw, { q: 'night', sizeMin: 80_000 })), ['night2/big-cube.fits', 'night4/m31.fits']);
  t.deepEqual(paths(await files(gw, { q: 'night1', sizeMax: 0 })), ['night1/empty.dat']);
  // mtime range [from, before)
  t.deepEqual(paths(await files(gw, { q: 'night', modifiedFrom: '2025-12-02', modifiedBefore: '2026-02-01' })), [
    'night1/m42.fits',
    'night1/notes.txt',
  ]);
  // new since: the volumes created at or after the date
  t.deepEqual(
    [
      ...new Set(
        (await files(gw, { newSince: '2026-03-05T12:00:00Z', limit: 1000 })).body.files.map(
          (f: { vsn: string }) => f.vsn,
        ),
      ),
    ],
    ['OPT000002', 'OPT000003'],
  );
  // site and VSN
  const vsn2 = await files(gw, { vsn: 'OPT000002', site: 'lab-1' });
  t.is(vsn2.body.files.length, 4);
  t.true(vsn2.body.files.every((f: { vsn: string }) => f.vsn === 'OPT000002'));
});

backendTest('SQL-looking, wildcard and markup text in queries is data', async (t, gw) => {
  t.deepEqual(paths(await files(gw, { q: "'brien; DROP TABLE" })), ["night2/o'brien; DROP TABLE index_files; --.txt"]);
  t.deepEqual(paths(await files(gw, { q: '100%_' })), ['night2/100%_done.log'], '% and _ are literal');
  t.deepEqual(paths(await files(gw, { q: '%%%' })), []);
  t.deepEqual(paths(await files(gw, { q: '___' })), []);
  t.deepEqual(paths(await files(gw, { q: "' OR 1=1 --" })), []);
  t.deepEqual(paths(await files(gw, { path: "' OR ''='" })), []);
  t.deepEqual(paths(await files(gw, { q: '<script>' })), [HOSTILE_PATH]);
  // the index still holds everything afterwards
  t.is((await files(gw, { limit: 1000 })).body.files.length, gw.files.size);
});

backendTest('pages with opaque cursors give every hit once; tampered or foreign cursors are refused', async (t, gw) => {
  const check = await openapiValidator(gw);
  const all = paths(await files(gw, { q: 'night', limit: 1000 }));
  t.is(all.length, gw.files.size - 0);
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Answer = await files(gw, { q: 'night', limit: 4, ...(cursor ? { cursor } : {}) });
    t.is(page.status, 200);
    check(t, '/api/v1/files', page);
    seen.push(...paths(page));
    cursor = page.body.next;
    pages++;
  } while (cursor);
  t.deepEqual(seen, all, 'each hit once, in the same order as one big page');
  t.true(pages >= Math.ceil(all.length / 4));

  // glob pages too
  const globbed: string[] = [];
  cursor = null;
  do {
    const page: Answer = await files(gw, { glob: 'night4/frames/*.raw', limit: 5, ...(cursor ? { cursor } : {}) });
    globbed.push(...paths(page));
    cursor = page.body.next;
  } while (cursor);
  t.is(globbed.length, 12);
  t.is(new Set(globbed).size, 12);

  const first = await files(gw, { q: 'night', limit: 2 });
  const next: string = first.body.next;
  // a changed character, a swapped body, junk, and the cursor of another query
  const [body, mac] = next.split('.') as [string, string];
  const flipped = `${body.slice(0, -2)}${body.at(-2) === 'A' ? 'B' : 'A'}${body.at(-1)}.${mac}`;
  const forged = `${Buffer.from(JSON.stringify({ q: 'x', p: { site: 'lab-2', vsn: 'OPT000001', path: '', entry: 0 } })).toString('base64url')}.${mac}`;
  for (const bad of [flipped, forged, 'garbage', `${next}.x`, 'x'.repeat(3000)]) {
    const a = await files(gw, { q: 'night', limit: 2, cursor: bad });
    t.is(a.status, 400, bad.slice(0, 40));
    t.is(a.body.error, 'BAD_CURSOR');
    check(t, '/api/v1/files', a);
  }
  const other = await files(gw, { q: 'fits', limit: 2, cursor: next });
  t.is(other.status, 400);
  t.regex(other.body.message, /another query/);
});

backendTest('restore links download exactly the file, one range per extent', async (t, gw) => {
  for (const path of ['night1/m31.fits', 'night2/big-cube.fits', 'night1/empty.dat']) {
    const [hit] = (await files(gw, { path })).body.files;
    t.is(hit.restore.ranges.length, hit.extents.filter((e: { length: number }) => e.length > 0).length);
    const parts: Buffer[] = [];
    for (const r of hit.restore.ranges) {
      const res = await fetch(r.url, { headers: { range: r.range } });
      t.is(res.status, 206, `${path} ${r.range}`);
      const got = Buffer.from(await res.arrayBuffer());
      t.is(got.length, r.length, 'only the range moves');
      parts.push(got);
    }
    t.true(Buffer.concat(parts).equals(gw.files.get(path)!), `${path} restored byte-identical`);
  }
  const [cube] = (await files(gw, { path: 'night2/big-cube.fits' })).body.files;
  t.is(cube.extents.length, 3, 'the multi-extent file');
  t.true(cube.extents[1].offset > cube.extents[0].offset + cube.extents[0].length, 'with gaps between extents');
  // the range is signed: the URL without it, or with another, is refused
  const r0 = cube.restore.ranges[0];
  t.is((await fetch(r0.url)).status, 403);
  t.is((await fetch(r0.url, { headers: { range: 'bytes=0-99999999' } })).status, 403);
  t.regex(cube.restore.curl, /^\{ curl -fsS -H 'Range: bytes=\d+-\d+' '.+' && curl .+; \} > 'big-cube\.fits'$/);
});

backendTest('volumes: listed, new since a date, one by one, scoped to the reader', async (t, gw) => {
  const check = await openapiValidator(gw);
  const list = await get(gw, '/api/v1/volumes');
  t.is(list.status, 200);
  check(t, '/api/v1/volumes', list);
  t.deepEqual(
    list.body.volumes.map((v: { vsn: string }) => v.vsn),
    gw.vsns,
  );
  const v3 = list.body.volumes[2];
  t.is(v3.files, 14);
  t.is(v3.createdAt, '2026-06-20T18:30:00.000Z');
  t.is(v3.copies.length, 2);
  const since = await get(gw, '/api/v1/volumes?newSince=2026-03-01');
  t.deepEqual(
    since.body.volumes.map((v: { vsn: string }) => v.vsn),
    ['OPT000002', 'OPT000003'],
  );
  const paged = await get(gw, '/api/v1/volumes?limit=2');
  t.is(paged.body.volumes.length, 2);
  const rest = await get(gw, `/api/v1/volumes?limit=2&cursor=${encodeURIComponent(paged.body.next)}`);
  t.deepEqual(
    rest.body.volumes.map((v: { vsn: string }) => v.vsn),
    ['OPT000003'],
  );
  t.is(rest.body.next, null);
  const one = await get(gw, '/api/v1/volumes/lab-1/OPT000002');
  t.is(one.status, 200);
  check(t, '/api/v1/volumes/{site}/{vsn}', one);
  t.is(one.body.volume.files, 4);
  const none = await get(gw, '/api/v1/volumes/lab-1/OPT999999');
  t.is(none.status, 404);
  check(t, '/api/v1/volumes/{site}/{vsn}', none);
});

backendTest('cross-site reads and bad tokens are refused', async (t, gw) => {
  const check = await openapiValidator(gw);
  // lab-2's reader sees lab-2 only
  t.deepEqual(paths(await files(gw, { q: 'm31' }, gw.otherToken)), ['secret/m31.fits']);
  t.deepEqual(paths(await files(gw, { q: 'secret' })), [], "lab-1's reader never sees lab-2");
  for (const a of [
    await files(gw, { q: 'm31', site: 'lab-2' }),
    await get(gw, '/api/v1/volumes/lab-2/OPT000001'),
    await get(gw, '/api/v1/volumes?site=lab-2'),
    await get(gw, '/api/v1/volumes/nosuch/OPT000001'),
  ]) {
    t.is(a.status, 403);
    t.is(a.body.error, 'FORBIDDEN_SITE');
  }
  // a cursor made for lab-2's reader gives lab-1's reader nothing of lab-2
  const theirs = await files(gw, { q: 'fits', limit: 1 }, gw.otherToken);
  t.deepEqual(paths(theirs), ['secret/m31.fits']);
  const readers = new ReaderTokens(gw.store);
  const revoked = readers.issue(['lab-1']);
  readers.revoke(revoked.reader.id);
  const expired = readers.issue(['lab-1'], { expiresAt: Date.now() - 1 });
  for (const token of [null, 'nonsense', `${gw.token.slice(0, -1)}x`, revoked.token, expired.token]) {
    const a = await files(gw, { q: 'm31' }, token);
    t.is(a.status, 401, String(token));
    t.is(a.body.error, 'UNAUTHORIZED');
    check(t, '/api/v1/files', a);
  }
});

backendTest('bad queries get clear 4xx answers; patterns cannot backtrack; fuzzing never gets a 500', async (t, gw) => {
  const check = await openapiValidator(gw);
  const refused = async (query: string, status: number, code: string, message?: RegExp) => {
    const a = await get(gw, `/api/v1/files?${query}`);
    t.is(a.status, status, query.slice(0, 60));
    t.is(a.body.error, code, query.slice(0, 60));
    if (message) t.regex(a.body.message, message);
    check(t, '/api/v1/files', a);
  };
  await refused('regex=(', 400, 'BAD_QUERY', /regex cannot be used: .*Unterminated group/);
  await refused('regex=(a)\\1', 400, 'BAD_QUERY', /linear time/);
  await refused('regex=(?<=a)b', 400, 'BAD_QUERY', /linear time/);
  await refused('glob=[abc', 400, 'BAD_QUERY', /unclosed \[/);
  await refused('q=ab', 400, 'BAD_QUERY', /at least 3/);
  await refused('sha256=xyz', 400, 'BAD_QUERY', /64 hexadecimal/);
  await refused('limit=0', 400, 'BAD_QUERY');
  await refused('limit=1001', 400, 'BAD_QUERY');
  await refused('sizeMin=-1', 400, 'BAD_QUERY');
  await refused('modifiedFrom=yesterday', 400, 'BAD_QUERY', /date/);
  await refused('newSince=2026-02-30', 400, 'BAD_QUERY');
  await refused('qq=m31', 400, 'BAD_QUERY', /unknown parameter "qq"/);
  await refused('q=m31&q=m42', 400, 'BAD_QUERY', /more than once/);
  await refused('q=%E0%A4%A', 400, 'BAD_QUERY', /percent/);
  await refused(`q=${'a'.repeat(1025)}`, 414, 'QUERY_TOO_LONG');
  await refused(`regex=${'a'.repeat(2000)}`, 414, 'QUERY_TOO_LONG');
  await refused(`q=m31&site=${'a'.repeat(5000)}`, 414, 'QUERY_TOO_LONG');

  // catastrophic-backtracking shapes run in linear time (or are refused), never hang the gateway
  for (const regex of ['(a+)+$', '(.*a){1,10}x', '^(\\w+\\s?)*$', '(x+x+)+y', '([a-z]*)*[0-9]!$']) {
    const started = Date.now();
    const a = await files(gw, { regex, limit: 10 });
    t.true(a.status === 200 || a.status === 400, `${regex}: ${a.status}`);
    t.true(Date.now() - started < 30_000, `${regex} answered`);
  }

  // seeded fuzz of the query string: never a 500
  let seed = 0x5eed;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = [
    'q',
    'glob',
    'regex',
    'path',
    'sha256',
    'site',
    'vsn',
    'sizeMin',
    'sizeMax',
    'modifiedFrom',
    'newSince',
    'limit',
    'cursor',
    'x',
  ];
  const junk = [
    '%',
    '%%',
    '%00',
    '*',
    '[',
    ']',
    '(',
    ')',
    '\\',
    "'",
    '"',
    ';',
    '--',
    '\u00ff',
    '\ud83d\ude00',
    '..',
    '/',
    '&',
    '=',
    '+',
    'm31',
    'lab-1',
    'OPT',
    '9',
    '-1',
    '1e9',
  ];
  const statuses = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const parts: string[] = [];
    for (let j = rand(4); j >= 0; j--) {
      let v = '';
      for (let k = rand(6); k >= 0; k--) v += junk[rand(junk.length)];
      parts.push(`${pieces[rand(pieces.length)]}=${rand(3) === 0 ? v : encodeURIComponent(v)}`);
    }
    const a = await get(gw, `/api/v1/files?${parts.join('&')}`);
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    t.true([200, 400, 403, 414].includes(a.status), `${parts.join('&')} → ${a.status}`);
  }
  t.true((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]));
});

(missing('sqlite') ? test.skip : test)(
  "instances sharing an index page on with each other's cursors when they share gateway.search.cursorKey",
  async (t) => {
    for (const shared of [true, false]) {
      const gw = await startSearchGateway(t, shared ? { cursorKey: 'k'.repeat(40) } : {});
      // a second instance: its own store (and reader), the same index and settings
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'optarc-search-b-'));
      t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
      const store = new GatewayStore(path.join(dir, 'gateway.sqlite'));
      t.teardown(() => store.close());
      const token = new ReaderTokens(store).issue(['lab-1']).token;
      const host = await startLocalHost({ host: '127.0.0.1', port: 0, store, index: gw.index, settings: gw.settings });
      t.teardown(() => host.close());
      const other: SearchGateway = { ...gw, url: `http://127.0.0.1:${host.port}`, token };
      const first = await files(gw, { q: 'night', limit: 3 });
      const second = await files(other, { q: 'night', limit: 3, cursor: first.body.next });
      if (shared) {
        t.is(second.status, 200);
        t.deepEqual(paths(second), paths(await files(gw, { q: 'night', limit: 3, cursor: first.body.next })));
      } else {
        t.is(second.status, 400);
        t.is(second.body.error, 'BAD_CURSOR');
      }
    }
  },
);

test('the OpenAPI description covers exactly the routed /api/ paths', async (t) => {
  const { OPENAPI } = await import('../../gateway/search/openapi.js');
  const routed = Object.keys(HTTP_ROUTES)
    .filter((k) => k.split(' ')[1]!.startsWith('/api/'))
    .sort();
  const described = Object.entries(OPENAPI.paths)
    .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  t.deepEqual(described, routed);
});
