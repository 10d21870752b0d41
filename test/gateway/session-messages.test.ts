/**
 * The gateway ↔ agent session protocol (gateway/protocol/): every message type
 * round-trips through the codec, each kind of bad input is refused with the
 * right code and names the bad field, and mutated input never makes the
 * decoder throw.
 */
import test from 'ava';
import {
  type DecodeResult,
  decodeAgentMessage,
  decodeGatewayMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  ProtocolError,
} from '../../gateway/protocol/codec.js';
import {
  AGENT_SCHEMAS,
  type AgentMessage,
  GATEWAY_SCHEMAS,
  type GatewayMessage,
  keyIsUnderSite,
  MiB,
} from '../../gateway/protocol/session-messages.js';

const SHA = 'a'.repeat(64);
const SHA2 = '0123456789abcdef'.repeat(4);
const KEY = 'sites/lab-1/volumes/VOL_0001.iso';
const MANIFEST_KEY = 'sites/lab-1/manifests/VOL_0001.json';
const PART_SIZE = 8 * MiB;
const IMAGE_KEY = 'sites/lab-1/volumes/VOL_0001/VOL_0001.iso';
const IMAGE_BYTES = 25_000_000_000;
const getUrl = (offset: number) =>
  `http://127.0.0.1:7480/bucket/${IMAGE_KEY}?versionId=V7&X-Amz-Expires=900&X-Amz-SignedHeaders=host%3Brange&r=${offset}`;
const url = (n: number) => `https://s3.example.com/bucket/${KEY}?partNumber=${n}&uploadId=U1&X-Amz-Signature=${SHA}`;

const agentSamples: AgentMessage[] = [
  {
    v: 1,
    type: 'hello',
    id: 'h-1',
    agentId: 'lab-1',
    agentVersion: '0.1.0',
    resumeToken: 'tok_0123456789abcdef',
    drives: [{ name: 'stdio:/var/optarc/d0', state: 'idle', media: ['BD', 'DVD'] }],
    pendingVolumes: [{ vsn: 'VOL_0001', size: 25_000_000_000, sha256: SHA, uploadId: 'U1' }],
  },
  { v: 1, type: 'mirror.begin', id: 'm-1', vsn: 'VOL_0001', size: 25_000_000_000, sha256: SHA, manifestDigest: SHA2 },
  { v: 1, type: 'mirror.progress', vsn: 'VOL_0001', uploadId: 'U1', partsDone: 3, bytesDone: 3 * PART_SIZE },
  {
    v: 1,
    type: 'mirror.complete',
    id: 'm-2',
    vsn: 'VOL_0001',
    uploadId: 'U1',
    parts: [
      { partNumber: 1, etag: '"d41d8cd98f00b204e9800998ecf8427e"', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
      { partNumber: 2, etag: '"0cc175b9c0f1b6a831c399e269772661"', md5: '0cc175b9c0f1b6a831c399e269772661' },
    ],
  },
  { v: 1, type: 'plan.more', id: 'p-2', uploadId: 'U1', fromPart: 1001 },
  {
    v: 1,
    type: 'presign.get',
    id: 'g-1',
    key: IMAGE_KEY,
    versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
    ranges: [
      { offset: 0, length: 2048 },
      { offset: IMAGE_BYTES - 10, length: 10 },
    ],
    purpose: 'retrieve',
  },
  {
    v: 1,
    type: 'presign.get',
    id: 'g-2',
    key: IMAGE_KEY,
    ranges: [{ offset: 0, length: 64 * MiB }],
    purpose: 'reburn',
  },
  {
    v: 1,
    type: 'fixity.report',
    results: [
      {
        vsn: 'VOL_0001',
        target: 'cloud',
        ok: true,
        checkedAt: '2026-11-22T05:00:00.000Z',
        bytes: IMAGE_BYTES,
        detail: '',
      },
      {
        vsn: 'VOL_0001',
        target: 'copy 2',
        ok: false,
        checkedAt: '2026-11-22T05:10:00Z',
        bytes: 4096,
        detail: 'sha256 mismatch at 0-4095: propose optarc reburn VOL_0001',
      },
      { vsn: 'VOL_0001', target: 'disc sr0', ok: true, checkedAt: '2026-11-22T05:20:00Z', bytes: 0, detail: 'é' },
    ],
  },
  { v: 1, type: 'command.result', replyTo: 'c-1', command: 'verify', ok: false, detail: 'copy 2 unreadable' },
];

const gatewaySamples: GatewayMessage[] = [
  {
    v: 1,
    type: 'session',
    replyTo: 'h-1',
    sessionId: 'S-42',
    resumeToken: 'tok_fedcba9876543210',
    site: 'lab-1',
    resumed: true,
    policy: {
      throttleBytesPerSecond: 10 * MiB,
      schedule: [{ days: [1, 2, 3, 4, 5], start: '22:00', end: '06:00' }],
      storageClass: 'DEEP_ARCHIVE',
      requiredCopies: 2,
    },
  },
  {
    v: 1,
    type: 'plan',
    replyTo: 'm-1',
    vsn: 'VOL_0001',
    uploadId: 'U1',
    key: KEY,
    partSize: PART_SIZE,
    parts: [1, 2, 4].map((n) => ({ partNumber: n, url: url(n), offset: (n - 1) * PART_SIZE, length: PART_SIZE })),
    manifest: { url: `http://127.0.0.1:9000/bucket/${MANIFEST_KEY}?X-Amz-Signature=${SHA}`, key: MANIFEST_KEY },
    morePartsFrom: 5,
  },
  {
    v: 1,
    type: 'ack',
    replyTo: 'm-2',
    vsn: 'VOL_0001',
    key: KEY,
    versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
    sha256: SHA,
  },
  { v: 1, type: 'pause', id: 'c-1', reason: 'maintenance' },
  { v: 1, type: 'resume', id: 'c-2' },
  { v: 1, type: 'throttle', id: 'c-3', bytesPerSecond: 1_000_000 },
  { v: 1, type: 'throttle', id: 'c-4', bytesPerSecond: null },
  { v: 1, type: 'verify', id: 'c-5', vsn: 'VOL_0001' },
  { v: 1, type: 'reburn', id: 'c-6', vsn: 'VOL_0001', copies: 2 },
  {
    v: 1,
    type: 'links',
    replyTo: 'g-1',
    key: IMAGE_KEY,
    ranges: [
      { offset: 0, length: 2048, url: getUrl(0) },
      { offset: IMAGE_BYTES - 10, length: 10, url: getUrl(IMAGE_BYTES - 10) },
    ],
    expiresAt: '2026-11-22T05:15:00.000Z',
  },
  { v: 1, type: 'error', code: 'NO_SUCH_UPLOAD', message: 'upload U9 is unknown', replyTo: 'p-2' },
  { v: 1, type: 'error', code: 'BAD_MESSAGE', message: 'not JSON', replyTo: null },
];

const clone = <T>(x: T): any => JSON.parse(JSON.stringify(x));
const agentType = (t: string) => clone(agentSamples.find((m) => m.type === t)!);
const gatewayType = (t: string) => clone(gatewaySamples.find((m) => m.type === t)!);

function refused(t: any, result: DecodeResult<unknown>, code: string, field: string | RegExp): void {
  if (result.ok) {
    t.fail(`accepted: ${JSON.stringify(result.message).slice(0, 200)}`);
    return;
  }
  t.is(result.error.code, code, result.error.message);
  if (typeof field === 'string') t.true(result.error.message.startsWith(`${field}:`), result.error.message);
  else t.regex(result.error.message, field);
}

test('every message type has a sample', (t) => {
  t.deepEqual(new Set(agentSamples.map((m) => m.type)), new Set(Object.keys(AGENT_SCHEMAS)));
  t.deepEqual(new Set(gatewaySamples.map((m) => m.type)), new Set(Object.keys(GATEWAY_SCHEMAS)));
  t.is(Object.keys(AGENT_SCHEMAS).length, 8);
  t.is(Object.keys(GATEWAY_SCHEMAS).length, 10);
});

test('every agent message round-trips, and only in its own direction', (t) => {
  for (const m of agentSamples) {
    const text = encodeMessage(m);
    const back = decodeAgentMessage(text);
    t.deepEqual(back, { ok: true, message: m }, m.type);
    refused(t, decodeGatewayMessage(text), 'BAD_MESSAGE', /^type: unknown gateway message type/);
  }
});

test('every gateway message round-trips, and only in its own direction', (t) => {
  for (const m of gatewaySamples) {
    const text = encodeMessage(m);
    const back = decodeGatewayMessage(text);
    t.deepEqual(back, { ok: true, message: m }, m.type);
    refused(t, decodeAgentMessage(text), 'BAD_MESSAGE', /^type: unknown agent message type/);
  }
});

test('unknown types are refused, and a known type is checked against its own schema', (t) => {
  refused(
    t,
    decodeAgentMessage('{"v":1,"type":"launch","id":"x"}'),
    'BAD_MESSAGE',
    /^type: unknown agent message type "launch"/,
  );
  refused(
    t,
    decodeGatewayMessage('{"v":1,"type":"launch","id":"x"}'),
    'BAD_MESSAGE',
    /^type: unknown gateway message type "launch"/,
  );
  // reburn is a gateway command now: without its copies it is refused for that field, not for its type.
  refused(t, decodeGatewayMessage('{"v":1,"type":"reburn","id":"x","vsn":"A"}'), 'BAD_MESSAGE', /^copies: required/);
  t.true(decodeGatewayMessage('{"v":1,"type":"reburn","id":"x","vsn":"A","copies":1}').ok);
  refused(t, decodeAgentMessage('{"v":1,"type":"reburn","id":"x","vsn":"A","copies":1}'), 'BAD_MESSAGE', 'type');
  refused(t, decodeGatewayMessage('{"v":1,"type":"retrieve","id":"x"}'), 'BAD_MESSAGE', 'type');
  refused(t, decodeAgentMessage('{"v":1,"id":"x"}'), 'BAD_MESSAGE', 'type');
  refused(t, decodeAgentMessage('{"v":1,"type":7}'), 'BAD_MESSAGE', 'type');
});

test('a missing field is named', (t) => {
  const m = agentType('mirror.begin');
  delete m.sha256;
  refused(t, decodeAgentMessage(JSON.stringify(m)), 'BAD_MESSAGE', /^sha256: required \(string\)$/);
  const p = gatewayType('session');
  delete p.policy.requiredCopies;
  refused(t, decodeGatewayMessage(JSON.stringify(p)), 'BAD_MESSAGE', 'policy.requiredCopies');
  const noId = agentType('hello');
  delete noId.id;
  refused(t, decodeAgentMessage(JSON.stringify(noId)), 'BAD_MESSAGE', 'id');
});

test('an extra key is refused and named, at any depth', (t) => {
  refused(t, decodeAgentMessage(JSON.stringify({ ...agentType('plan.more'), admin: true })), 'BAD_MESSAGE', 'admin');
  const plan = gatewayType('plan');
  plan.parts[1].checksum = 'x';
  refused(t, decodeGatewayMessage(JSON.stringify(plan)), 'BAD_MESSAGE', 'parts[1].checksum');
  const proto = JSON.stringify(agentType('plan.more')).replace(/}$/, ',"__proto__":{"polluted":1}}');
  refused(t, decodeAgentMessage(proto), 'BAD_MESSAGE', '__proto__');
  t.is(({} as any).polluted, undefined);
});

test('another protocol version is a VERSION error; a missing one is not', (t) => {
  refused(t, decodeAgentMessage(JSON.stringify({ ...agentType('hello'), v: 2 })), 'VERSION', /^v: protocol version 2 /);
  refused(t, decodeGatewayMessage(JSON.stringify({ ...gatewayType('ack'), v: '1' })), 'VERSION', 'v');
  // A future version's unknown type is still a VERSION error: the version is checked first.
  refused(t, decodeGatewayMessage('{"v":2,"type":"reburn"}'), 'VERSION', 'v');
  const m = agentType('hello');
  delete m.v;
  refused(t, decodeAgentMessage(JSON.stringify(m)), 'BAD_MESSAGE', 'v');
});

test('field formats: VSN, hex, URLs, keys, sizes', (t) => {
  const cases: [any, string][] = [
    [{ ...agentType('mirror.begin'), vsn: 'vol-1' }, 'vsn'],
    [{ ...agentType('mirror.begin'), vsn: 'A'.repeat(33) }, 'vsn'],
    [{ ...agentType('mirror.begin'), vsn: '' }, 'vsn'],
    [{ ...agentType('mirror.begin'), sha256: 'A'.repeat(64) }, 'sha256'],
    [{ ...agentType('mirror.begin'), manifestDigest: 'a'.repeat(63) }, 'manifestDigest'],
    [{ ...agentType('mirror.begin'), size: 1.5 }, 'size'],
    [{ ...agentType('mirror.begin'), size: 2 ** 53 }, 'size'],
    [{ ...agentType('mirror.begin'), size: '25000' }, 'size'],
    [{ ...agentType('mirror.begin'), size: 0 }, 'size'],
    [{ ...agentType('mirror.progress'), bytesDone: -1 }, 'bytesDone'],
    [{ ...agentType('hello'), agentId: 'Lab 1' }, 'agentId'],
    [{ ...agentType('hello'), drives: [{ name: 'd0', state: 'melting', media: [] }] }, 'drives[0].state'],
  ];
  for (const [m, field] of cases) refused(t, decodeAgentMessage(JSON.stringify(m)), 'BAD_MESSAGE', field);
  const complete = agentType('mirror.complete');
  complete.parts[1].md5 = 'zz'.repeat(16);
  refused(t, decodeAgentMessage(JSON.stringify(complete)), 'BAD_MESSAGE', 'parts[1].md5');
  complete.parts[1] = { ...complete.parts[0] };
  refused(t, decodeAgentMessage(JSON.stringify(complete)), 'BAD_MESSAGE', 'parts[1].partNumber');

  const withUrl = (u: string) => {
    const p = gatewayType('plan');
    p.parts[0].url = u;
    return JSON.stringify(p);
  };
  for (const bad of [
    'ftp://s3.example.com/x',
    'file:///etc/passwd',
    'javascript:alert(1)',
    '/relative',
    'https://u:p@h/x',
  ]) {
    refused(t, decodeGatewayMessage(withUrl(bad)), 'BAD_MESSAGE', 'parts[0].url');
  }
  refused(t, decodeGatewayMessage(withUrl(`https://h/${'a'.repeat(4096)}`)), 'BAD_MESSAGE', 'parts[0].url');
  t.true(decodeGatewayMessage(withUrl(`https://h/${'a'.repeat(4000)}`)).ok);

  const withKey = (k: string) => JSON.stringify({ ...gatewayType('ack'), key: k });
  for (const bad of [
    'volumes/A.iso',
    'sites/lab-1/../lab-2/A.iso',
    'sites/lab-1//A.iso',
    'sites/lab-1/a b',
    'sites/Lab/A',
  ]) {
    refused(t, decodeGatewayMessage(withKey(bad)), 'BAD_MESSAGE', 'key');
  }
  refused(t, decodeGatewayMessage(withKey(`sites/lab-1/${'a'.repeat(1020)}`)), 'BAD_MESSAGE', 'key');
  t.true(keyIsUnderSite(KEY, 'lab-1'));
  t.false(keyIsUnderSite(KEY, 'lab'));
  t.false(keyIsUnderSite('sites/lab-1/../x', 'lab-1'));
});

test('presign.get: ranges, keys and purposes', (t) => {
  const get = (f: (m: any) => void) => {
    const m = agentType('presign.get');
    f(m);
    return decodeAgentMessage(JSON.stringify(m));
  };
  const ranges = (n: number) => Array.from({ length: n }, (_, i) => ({ offset: i * 4096, length: 4096 }));
  refused(
    t,
    get((m) => {
      m.ranges = [];
    }),
    'BAD_MESSAGE',
    'ranges',
  );
  refused(
    t,
    get((m) => {
      m.ranges = ranges(257);
    }),
    'BAD_MESSAGE',
    'ranges',
  );
  t.true(
    get((m) => {
      m.ranges = ranges(256);
    }).ok,
  );
  refused(
    t,
    get((m) => {
      m.ranges[1].length = 0;
    }),
    'BAD_MESSAGE',
    'ranges[1].length',
  );
  refused(
    t,
    get((m) => {
      m.ranges[0].offset = -1;
    }),
    'BAD_MESSAGE',
    'ranges[0].offset',
  );
  refused(
    t,
    get((m) => {
      m.ranges[0].length = 2 ** 53;
    }),
    'BAD_MESSAGE',
    'ranges[0].length',
  );
  for (const key of [
    'volumes/VOL_0001/VOL_0001.iso',
    'sites/lab-1/../lab-2/volumes/X.iso',
    'sites/lab-1/',
    'sites/LAB/volumes/X.iso',
    '/sites/lab-1/volumes/X.iso',
    'sites/lab-1/volumes/X.iso?versionId=1',
  ]) {
    refused(
      t,
      get((m) => {
        m.key = key;
      }),
      'BAD_MESSAGE',
      'key',
    );
  }
  refused(
    t,
    get((m) => {
      m.purpose = 'download';
    }),
    'BAD_MESSAGE',
    'purpose',
  );
  refused(
    t,
    get((m) => {
      m.versionId = '';
    }),
    'BAD_MESSAGE',
    'versionId',
  );
  refused(
    t,
    get((m) => {
      delete m.id;
    }),
    'BAD_MESSAGE',
    'id',
  );
});

test('fixity.report: targets and the number of results', (t) => {
  const report = (f: (m: any) => void) => {
    const m = agentType('fixity.report');
    f(m);
    return decodeAgentMessage(JSON.stringify(m));
  };
  for (const target of ['copy 0', 'disc ../x', 'disc ', 'copy 10000', 'cloud ', 'Cloud', 'tape 1']) {
    refused(
      t,
      report((m) => {
        m.results[0].target = target;
      }),
      'BAD_MESSAGE',
      'results[0].target',
    );
  }
  t.true(
    report((m) => {
      m.results[0].target = 'copy 9999';
      m.results[1].target = 'disc stdio:d0.iso';
    }).ok,
  );
  const results = (n: number) => Array.from({ length: n }, () => ({ ...agentType('fixity.report').results[0] }));
  refused(
    t,
    report((m) => {
      m.results = results(101);
    }),
    'BAD_MESSAGE',
    'results',
  );
  refused(
    t,
    report((m) => {
      m.results = [];
    }),
    'BAD_MESSAGE',
    'results',
  );
  t.true(
    report((m) => {
      m.results = results(100);
    }).ok,
  );
  refused(
    t,
    report((m) => {
      m.results[2].checkedAt = 'yesterday';
    }),
    'BAD_MESSAGE',
    'results[2].checkedAt',
  );
  refused(
    t,
    report((m) => {
      m.results[1].detail = 'x'.repeat(1025);
    }),
    'BAD_MESSAGE',
    'results[1].detail',
  );
  refused(
    t,
    report((m) => {
      m.id = 'f-1';
    }),
    'BAD_MESSAGE',
    'id',
  );
});

test('reburn copies and links URLs', (t) => {
  const reburn = (copies: unknown) => decodeGatewayMessage(JSON.stringify({ ...gatewayType('reburn'), copies }));
  for (const copies of [0, 17, 1.5, -1, '2', null]) refused(t, reburn(copies), 'BAD_MESSAGE', 'copies');
  t.true(reburn(1).ok);
  t.true(reburn(16).ok);
  refused(t, decodeGatewayMessage(JSON.stringify({ ...gatewayType('reburn'), vsn: 'vol 1' })), 'BAD_MESSAGE', 'vsn');

  const links = (f: (m: any) => void) => {
    const m = gatewayType('links');
    f(m);
    return decodeGatewayMessage(JSON.stringify(m));
  };
  for (const bad of [
    'ftp://s3.example.com/x',
    'file:///etc/passwd',
    'data:text/plain,abc',
    '/relative',
    'http://u:p@h/x',
  ]) {
    refused(
      t,
      links((m) => {
        m.ranges[1].url = bad;
      }),
      'BAD_MESSAGE',
      'ranges[1].url',
    );
  }
  refused(
    t,
    links((m) => {
      m.ranges[0].length = 0;
    }),
    'BAD_MESSAGE',
    'ranges[0].length',
  );
  refused(
    t,
    links((m) => {
      m.key = 'other/VOL_0001.iso';
    }),
    'BAD_MESSAGE',
    'key',
  );
  refused(
    t,
    links((m) => {
      m.expiresAt = 'soon';
    }),
    'BAD_MESSAGE',
    'expiresAt',
  );
});

test('plan constraints: part size, batch size, offsets, ordering', (t) => {
  const plan = (f: (p: any) => void) => {
    const p = gatewayType('plan');
    f(p);
    return decodeGatewayMessage(JSON.stringify(p));
  };
  refused(
    t,
    plan((p) => {
      p.partSize = 5 * MiB - 1;
    }),
    'BAD_MESSAGE',
    'partSize',
  );
  refused(
    t,
    plan((p) => {
      p.partSize = 5 * 1024 * MiB + 1;
    }),
    'BAD_MESSAGE',
    'partSize',
  );
  t.true(
    plan((p) => {
      p.partSize = 5 * MiB;
      p.parts = [];
      delete p.morePartsFrom;
    }).ok,
  );
  refused(
    t,
    plan((p) => {
      p.parts[2].offset += 1;
    }),
    'BAD_MESSAGE',
    'parts[2].offset',
  );
  refused(
    t,
    plan((p) => {
      p.parts[0].length = PART_SIZE + 1;
    }),
    'BAD_MESSAGE',
    'parts[0].length',
  );
  refused(
    t,
    plan((p) => {
      p.parts.reverse();
    }),
    'BAD_MESSAGE',
    'parts[1].partNumber',
  );
  refused(
    t,
    plan((p) => {
      p.morePartsFrom = 4;
    }),
    'BAD_MESSAGE',
    'morePartsFrom',
  );
  refused(
    t,
    plan((p) => {
      p.parts[0].partNumber = 10_001;
    }),
    'BAD_MESSAGE',
    'parts[0].partNumber',
  );
  const batch = (n: number) =>
    plan((p) => {
      p.partSize = 5 * MiB;
      p.parts = Array.from({ length: n }, (_, i) => ({
        partNumber: i + 1,
        url: `https://h/${i}`,
        offset: i * 5 * MiB,
        length: 5 * MiB,
      }));
      p.morePartsFrom = n + 1;
    });
  t.true(batch(1000).ok);
  refused(t, batch(1001), 'BAD_MESSAGE', 'parts');
});

test('oversized, non-JSON and wrongly shaped text', (t) => {
  const big = JSON.stringify({ ...gatewayType('pause'), reason: 'x'.repeat(MAX_MESSAGE_BYTES) });
  refused(t, decodeGatewayMessage(big), 'TOO_LARGE', '(message)');
  // Multi-byte characters count in UTF-8 bytes, not string length.
  const wide = `"${'é'.repeat(MAX_MESSAGE_BYTES / 2 + 1)}"`;
  t.true(wide.length < MAX_MESSAGE_BYTES);
  refused(t, decodeAgentMessage(wide), 'TOO_LARGE', '(message)');

  for (const text of ['', '{', 'hello', '{"v":1,}', "{'v':1}", 'NaN'])
    refused(t, decodeAgentMessage(text), 'BAD_JSON', '(message)');
  refused(t, decodeAgentMessage(undefined as any), 'BAD_JSON', '(message)');
  refused(t, decodeAgentMessage(42 as any), 'BAD_JSON', '(message)');
  refused(t, decodeAgentMessage('null'), 'BAD_MESSAGE', /^\(message\): must be a JSON object, got null/);
  refused(t, decodeAgentMessage('[]'), 'BAD_MESSAGE', /got an array/);
  refused(t, decodeAgentMessage('[{"v":1,"type":"hello"}]'), 'BAD_MESSAGE', '(message)');
  refused(t, decodeGatewayMessage('"session"'), 'BAD_MESSAGE', /got string/);
  refused(t, decodeGatewayMessage('17'), 'BAD_MESSAGE', /got number/);
  refused(t, decodeGatewayMessage('[['.repeat(200_000)), 'BAD_JSON', '(message)');
});

test('encodeMessage refuses what the other end would refuse', (t) => {
  const bad = { ...gatewayType('verify'), vsn: 'nope' };
  const e = t.throws(() => encodeMessage(bad), { instanceOf: ProtocolError });
  t.is(e.code, 'BAD_MESSAGE');
  t.regex(e.message, /^vsn:/);
  t.is(t.throws(() => encodeMessage({ ...bad, vsn: 'A', v: 2 }), { instanceOf: ProtocolError }).code, 'VERSION');
  // Within every per-field bound, but 1000 maximal URLs are 4 MB: too large to send.
  const p = gatewayType('plan');
  p.partSize = 5 * MiB;
  p.parts = Array.from({ length: 1000 }, (_, i) => ({
    partNumber: i + 1,
    url: `https://h/${'u'.repeat(4000)}`,
    offset: i * 5 * MiB,
    length: 5 * MiB,
  }));
  p.morePartsFrom = 1001;
  t.is(t.throws(() => encodeMessage(p), { instanceOf: ProtocolError }).code, 'TOO_LARGE');
});

// ---------------------------------------------------------------- fuzz

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('mutated messages never make the decoders throw', (t) => {
  const rnd = mulberry32(0x0b7a7c);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const oddValues: unknown[] = [
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 60,
    '',
    'x',
    '../..',
    '__proto__',
    [],
    {},
    [null],
    { v: 1 },
    'A'.repeat(5000),
  ];
  const samples = [...agentSamples, ...gatewaySamples].map((m) => JSON.stringify(m));
  const codes = new Map<string, number>();
  let accepted = 0;

  const mutateValue = (value: any, depth: number): any => {
    if (value === null || typeof value !== 'object' || depth > 4 || rnd() < 0.3) return pick(oddValues);
    const keys = Object.keys(value);
    if (keys.length === 0) return value;
    const k = pick(keys);
    const r = rnd();
    if (r < 0.2 && !Array.isArray(value)) delete value[k];
    else if (r < 0.3) value[Array.isArray(value) ? value.length : `extra${depth}`] = pick(oddValues);
    else value[k] = mutateValue(value[k], depth + 1);
    return value;
  };
  const mutateText = (s: string): string => {
    const i = Math.floor(rnd() * (s.length + 1));
    switch (Math.floor(rnd() * 4)) {
      case 0:
        return s.slice(0, i);
      case 1:
        return s.slice(0, i) + String.fromCharCode(Math.floor(rnd() * 0x10000)) + s.slice(i + 1);
      case 2:
        return s.slice(0, i) + pick(['{', '}', '"', ',', '[', '\\', '\u0000', 'null']) + s.slice(i);
      default:
        return s.slice(0, i) + s.slice(i + 1 + Math.floor(rnd() * 8));
    }
  };

  for (let n = 0; n < 4000; n++) {
    const source = pick(samples);
    const text = rnd() < 0.5 ? (JSON.stringify(mutateValue(JSON.parse(source), 0)) ?? 'undefined') : mutateText(source);
    for (const decode of [decodeAgentMessage, decodeGatewayMessage] as ((s: string) => DecodeResult<any>)[]) {
      let result: DecodeResult<any>;
      try {
        result = decode(text);
      } catch (err) {
        t.fail(`threw on ${JSON.stringify(text).slice(0, 300)}: ${err}`);
        return;
      }
      if (result.ok) {
        accepted++;
        // Whatever is accepted re-encodes to something the same decoder accepts as equal.
        t.deepEqual(decode(encodeMessage(result.message)), result);
      } else {
        codes.set(result.error.code, (codes.get(result.error.code) ?? 0) + 1);
        if (!/^(\(message\)|[A-Za-z_$[])[\s\S]*?: \S/.test(result.error.message))
          t.fail(`no field named: ${result.error.message}`);
      }
    }
  }
  t.log(`accepted ${accepted}, refused ${JSON.stringify(Object.fromEntries(codes))}`);
  // The mutations reach every refusal path that applies, not just JSON syntax errors.
  t.true((codes.get('BAD_JSON') ?? 0) > 100);
  t.true((codes.get('BAD_MESSAGE') ?? 0) > 1000);
  t.true((codes.get('VERSION') ?? 0) > 10);
  t.true(accepted > 0);
});
