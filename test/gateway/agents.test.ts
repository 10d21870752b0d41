/**
 * Agent identity: `optarc-gateway agents add|list|revoke` through the real CLI
 * against a store in a temp dir, then the token module directly (verify,
 * revoke, unknown agents) and siteKeyPrefix against hostile site strings.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AgentTokens, IdentityError, SITE_PATTERN, siteKeyPrefix } from '../../gateway/identity/agent-tokens.js';
import { GatewayStore, MIGRATIONS } from '../../gateway/store/gateway-store.js';
import { BIN, run } from '../helpers/processes.js';

function tempConfig(): { dir: string; config: string; store: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-agents-'));
  const store = path.join(dir, 'state', 'gateway.sqlite');
  const config = path.join(dir, 'optarc.json');
  writeFileSync(config, JSON.stringify({ gateway: { store } }));
  return { dir, config, store };
}

/** Every byte SQLite left for the store: the file and any -wal/-shm beside it. */
function storeBytes(store: string): Buffer {
  const dir = path.dirname(store);
  const base = path.basename(store);
  return Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith(base))
      .map((f) => readFileSync(path.join(dir, f))),
  );
}

const TOKEN_RE = /^oa_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

test('agents add prints the token once; list shows the agent without any hash; the store holds no token', async (t) => {
  const { config, store } = tempConfig();
  const add = await run(BIN.gateway, ['agents', 'add', '--site', 'lab-1', '--json', '--config', config]);
  t.is(add.code, 0, add.stderr);
  const issued = JSON.parse(add.stdout);
  t.regex(issued.token, TOKEN_RE);
  t.is(issued.site, 'lab-1');
  t.true(issued.token.startsWith(`oa_${issued.id}_`));
  t.is(issued.revokedAt, null);

  const text = await run(BIN.gateway, ['agents', 'add', '--site', 'lab-2', '--config', config]);
  t.is(text.code, 0, text.stderr);
  const textToken = /^token (\S+)$/m.exec(text.stdout)?.[1] ?? '';
  t.regex(textToken, TOKEN_RE);
  t.regex(text.stderr, /shown once/);

  for (const args of [['--json'], []]) {
    const list = await run(BIN.gateway, ['agents', 'list', ...args, '--config', config]);
    t.is(list.code, 0, list.stderr);
    t.true(list.stdout.includes(issued.id));
    t.false(list.stdout.includes(issued.token), 'list must not print a token');
    t.false(list.stdout.includes(issued.token.split('_').slice(2).join('_')), 'nor its secret');
    t.false(list.stdout.includes(textToken));
    t.notRegex(list.stdout, /hash/i);
  }
  const listed = JSON.parse((await run(BIN.gateway, ['agents', 'list', '--json', '--config', config])).stdout);
  t.deepEqual(
    listed.map((a: Record<string, unknown>) => Object.keys(a).sort()),
    [
      ['createdAt', 'expiresAt', 'id', 'revokedAt', 'site'],
      ['createdAt', 'expiresAt', 'id', 'revokedAt', 'site'],
    ],
  );
  const onlyLab1 = JSON.parse(
    (await run(BIN.gateway, ['agents', 'list', '--site', 'lab-1', '--json', '--config', config])).stdout,
  );
  t.deepEqual(
    onlyLab1.map((a: { id: string }) => a.id),
    [issued.id],
  );

  // The store is where we think it is (it names the agent) and holds neither token nor secret.
  const bytes = storeBytes(store);
  t.true(bytes.includes(Buffer.from(issued.id)));
  for (const token of [issued.token, textToken]) {
    t.false(bytes.includes(Buffer.from(token)));
    t.false(bytes.includes(Buffer.from(token.slice(20))));
    t.false(bytes.includes(Buffer.from(token.slice(20), 'base64url')));
  }

  // Revoked through the CLI: the module then refuses the token as REVOKED.
  const revoke = await run(BIN.gateway, ['agents', 'revoke', issued.id, '--config', config]);
  t.is(revoke.code, 0, revoke.stderr);
  t.regex(revoke.stdout, /revoked/);
  const after = JSON.parse(
    (await run(BIN.gateway, ['agents', 'list', '--site', 'lab-1', '--json', '--config', config])).stdout,
  );
  t.not(after[0].revokedAt, null);
  const s = new GatewayStore(store);
  try {
    const err = t.throws(() => new AgentTokens(s).verify(issued.token), { instanceOf: IdentityError });
    t.is(err?.code, 'REVOKED');
    t.is(new AgentTokens(s).verify(textToken).site, 'lab-2');
  } finally {
    s.close();
  }
});

test('usage errors exit 2 with a clear message', async (t) => {
  const { config, store } = tempConfig();
  for (const site of ['Lab', '-lab', 'a/b', '..', 'a'.repeat(64), '']) {
    const r = await run(BIN.gateway, ['agents', 'add', `--site=${site}`, '--config', config]);
    t.is(r.code, 2, `site ${JSON.stringify(site)}`);
    t.regex(r.stderr, /bad site .*lowercase letters, digits and dashes/);
    t.is(r.stdout, '');
  }
  const cases: [string[], RegExp][] = [
    [['agents', 'add'], /needs --site/],
    [['agents'], /needs a command/],
    [['agents', 'frob'], /unknown agents command 'frob'/],
    [['agents', 'revoke'], /exactly one agent id/],
    [['agents', 'list', 'extra'], /unexpected argument 'extra'/],
    [['agents', 'list', '--site', 'UPPER'], /bad site/],
    [['nope'], /unknown command 'nope'/],
  ];
  for (const [args, message] of cases) {
    const r = await run(BIN.gateway, [...args, '--config', config]);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message);
  }
  // Not a usage error but a failure: no such agent.
  const unknown = await run(BIN.gateway, ['agents', 'revoke', '0123456789abcdef', '--config', config]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /unknown agent/);
  // The existing config command still works and shows the store setting.
  const shown = await run(BIN.gateway, ['config', '--config', config]);
  t.is(shown.code, 0, shown.stderr);
  t.is(JSON.parse(shown.stdout).gateway.store, store);
});

test('verify accepts the token and refuses any one-character change, revoked and unknown agents', (t) => {
  const { store } = tempConfig();
  const s = new GatewayStore(store);
  t.teardown(() => s.close());
  let clock = 1_700_000_000_000;
  const tokens = new AgentTokens(s, { now: () => clock });
  const { agent, token } = tokens.issue('site-a');
  t.deepEqual(tokens.verify(token), {
    id: agent.id,
    site: 'site-a',
    createdAt: clock,
    revokedAt: null,
    expiresAt: null,
  });

  const codeOf = (tok: string) => {
    try {
      tokens.verify(tok);
      return 'OK';
    } catch (e) {
      if (e instanceof IdentityError) return e.code;
      throw e;
    }
  };
  // Every position of the secret, including the last character (whose low bits base64url decoding ignores).
  const secretStart = `oa_${agent.id}_`.length;
  for (let i = secretStart; i < token.length; i++) {
    const c = token[i] === 'A' ? 'B' : 'A';
    t.is(codeOf(token.slice(0, i) + c + token.slice(i + 1)), 'BAD_TOKEN', `position ${i}`);
  }
  t.is(codeOf(`${token}A`), 'BAD_TOKEN');
  t.is(codeOf(token.slice(0, -1)), 'BAD_TOKEN');
  t.is(codeOf(''), 'BAD_TOKEN');
  // Another agent's id with this agent's secret.
  const other = tokens.issue('site-b');
  t.is(codeOf(`oa_${other.agent.id}_${token.slice(secretStart)}`), 'BAD_TOKEN');
  t.is(codeOf(other.token), 'OK');
  // Unknown agent id, well-formed token.
  const unknownId = agent.id === '0000000000000000' ? '1111111111111111' : '0000000000000000';
  t.is(codeOf(`oa_${unknownId}_${token.slice(secretStart)}`), 'UNKNOWN_AGENT');
  t.is((t.throws(() => tokens.revoke(unknownId)) as IdentityError).code, 'UNKNOWN_AGENT');

  clock += 5000;
  t.is(tokens.revoke(agent.id).revokedAt, clock);
  t.is(codeOf(token), 'REVOKED');
  // A wrong token for a revoked agent is still just a bad token.
  t.is(codeOf(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), 'BAD_TOKEN');
  clock += 5000;
  t.is(tokens.revoke(agent.id).revokedAt, clock - 5000, 'revoking twice keeps the first time');
  t.is(codeOf(other.token), 'OK', 'revoking one agent leaves the others');
  t.deepEqual(
    tokens.list('site-b').map((a) => a.id),
    [other.agent.id],
  );
  t.is((t.throws(() => tokens.issue('Bad Site')) as IdentityError).code, 'BAD_SITE');
  t.is(s.version(), MIGRATIONS.length);

  // A token with an expiry works until then, and is EXPIRED from that moment on.
  const timed = tokens.issue('site-c', { expiresAt: clock + 60_000 });
  t.is(codeOf(timed.token), 'OK');
  clock += 59_999;
  t.is(codeOf(timed.token), 'OK');
  clock += 1;
  t.is(codeOf(timed.token), 'EXPIRED');
  t.is(codeOf(`${timed.token.slice(0, -1)}${timed.token.endsWith('A') ? 'B' : 'A'}`), 'BAD_TOKEN');
});

test('agents add --expires-days: the expiry is shown and enforced; bad values are usage errors', async (t) => {
  const { config, store } = tempConfig();
  const before = Date.now();
  const add = await run(BIN.gateway, [
    'agents',
    'add',
    '--site',
    'lab-9',
    '--expires-days',
    '2',
    '--json',
    '--config',
    config,
  ]);
  t.is(add.code, 0, add.stderr);
  const issued = JSON.parse(add.stdout);
  const expires = Date.parse(issued.expiresAt);
  t.true(expires >= before + 2 * 86_400_000 && expires <= Date.now() + 2 * 86_400_000);
  const s = new GatewayStore(store);
  try {
    t.is(new AgentTokens(s, { now: () => expires - 1 }).verify(issued.token).id, issued.id);
    const err = t.throws(() => new AgentTokens(s, { now: () => expires }).verify(issued.token), {
      instanceOf: IdentityError,
    });
    t.is(err?.code, 'EXPIRED');
  } finally {
    s.close();
  }
  for (const bad of ['0', '-1', 'soon']) {
    const r = await run(BIN.gateway, ['agents', 'add', '--site', 'lab-9', '--expires-days', bad, '--config', config]);
    t.is(r.code, 2, bad);
    t.regex(r.stderr, /--expires-days/);
  }
});

test('siteKeyPrefix: no site string escapes sites/<site>/', (t) => {
  const hostile = [
    '',
    '.',
    '..',
    '../x',
    'a/../../b',
    'a/b',
    'a\\b',
    '/abs',
    'a\n',
    '\nа',
    'a\u0000',
    'A',
    'а', // Cyrillic a
    '-a',
    'a'.repeat(64),
    '%2e%2e',
    'a b',
    'a.b',
    '~',
  ];
  // Random strings over an alphabet rich in separators, dots and near-misses.
  const alphabet = 'ab0-./\\%_ \n~A\u0430\u2215';
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const generated = Array.from({ length: 5000 }, () =>
    Array.from({ length: rand(70) }, () => alphabet[rand(alphabet.length)]).join(''),
  );
  let accepted = 0;
  let refused = 0;
  for (const site of [...hostile, ...generated, 'a', 'lab-1', '0', `a${'-'.repeat(62)}`]) {
    let prefix: string;
    try {
      prefix = siteKeyPrefix(site);
    } catch (e) {
      t.true(e instanceof IdentityError && e.code === 'BAD_SITE', JSON.stringify(site));
      t.false(SITE_PATTERN.test(site));
      refused++;
      continue;
    }
    accepted++;
    t.is(prefix, `sites/${site}/`);
    // One path segment, nothing that normalises away, and a key under it stays under it.
    t.regex(site, /^[a-z0-9][a-z0-9-]*$/);
    t.true(site.length <= 63);
    t.is(path.posix.normalize(`${prefix}key`), `${prefix}key`);
    t.is(prefix.split('/').length, 3);
  }
  for (const site of hostile) t.throws(() => siteKeyPrefix(site), { instanceOf: IdentityError }, JSON.stringify(site));
  t.true(accepted >= 4 && refused >= hostile.length, `${accepted} accepted, ${refused} refused`);
  // A site's prefix is never a prefix of another site's (the trailing slash).
  t.false(siteKeyPrefix('ab').startsWith(siteKeyPrefix('a')));
  t.false(`${siteKeyPrefix('a')}x`.startsWith(siteKeyPrefix('ab')));
});
