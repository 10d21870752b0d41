/**
 * The generated TypeScript binding against rpcgen itself: the same values are
 * filled into rpcgen's C structures (built from clients/protocol/optarc.x in a
 * temporary directory) and encoded with rpcgen's xdr_* routines into an
 * xdrmem stream; our encoding must be byte-identical, and our decoder must give
 * back the values from rpcgen's bytes.
 *
 * The C side of each sample is written by hand against rpcgen's structures, not
 * derived from our parser or emitter, so the two implementations stay independent.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { decode, encode, type x } from '../../clients/oncrpc/xdr/index.js';
import {
  type Codecs,
  createCodecs,
  createOptarcV1Procedures,
  OptarcBurnMode,
  OptarcJobState,
  OptarcKind,
  OptarcMatch,
  OptarcRetrievalState,
  OptarcRetrieveMode,
  OptarcStatus as S,
} from '../../clients/protocol/generated/optarc.js';
import { ROOT } from '../helpers/processes.js';

interface Sample {
  label: string;
  type: keyof Codecs;
  value: unknown;
  /** C statements filling `v`, a zeroed variable of the rpcgen type. */
  c: string;
}

const samples: Sample[] = [];
function sample<K extends keyof Codecs>(label: string, type: K, value: x.Infer<Codecs[K]>, c: string): void {
  samples.push({ label, type, value, c });
}

/** A C string literal holding exactly the UTF-8 bytes of `s` (octal escapes never run on). */
function cstr(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    out +=
      b >= 0x20 && b < 0x7f && ch !== '"' && ch !== '\\' && ch !== '?' ? ch : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** The bytes fill() writes in C: (i * 7 + seed) & 0xff. */
const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

// ---------------------------------------------------------------- arguments

sample(
  'hello_args',
  'optarc_hello_args',
  { protocol: 1, client_time: { seconds: 1_700_000_000n, nanoseconds: 123_456_789 }, client: 'sun4m' },
  `v.protocol = 1; v.client_time.seconds = 1700000000LL; v.client_time.nanoseconds = 123456789;
   v.client = ${cstr('sun4m')};`,
);
sample(
  'hello_args_utf8',
  'optarc_hello_args',
  { protocol: 2, client_time: { seconds: -86_400n, nanoseconds: 0 }, client: 'poste-é€' },
  `v.protocol = 2; v.client_time.seconds = -86400LL; v.client = ${cstr('poste-é€')};`,
);
sample('session_args', 'optarc_session_args', { session: 0xfedcba9876543210n }, 'v.session = 0xfedcba9876543210ULL;');
sample(
  'path_args',
  'optarc_path_args',
  { session: 1n, path: Buffer.from('archive/2024') },
  'v.session = 1; v.path.optarc_path_len = 12; v.path.optarc_path_val = "archive/2024";',
);
sample(
  'mkdir_args',
  'optarc_mkdir_args',
  { session: 2n, path: Buffer.from('run/42'), mode: 0o2750 },
  'v.session = 2; v.path.optarc_path_len = 6; v.path.optarc_path_val = "run/42"; v.mode = 02750;',
);
sample(
  'write_args',
  'optarc_write_args',
  {
    session: 0x0123456789abcdefn,
    path: Buffer.from('staging/a.bin'),
    offset: 4096n,
    data: Buffer.from([0x00, 0x7f, 0x80, 0xfe, 0xff]),
  },
  `static char data[] = { 0x00, 0x7f, (char)0x80, (char)0xfe, (char)0xff };
   v.session = 0x0123456789abcdefULL; v.path.optarc_path_len = 13; v.path.optarc_path_val = "staging/a.bin";
   v.offset = 4096; v.data.data_len = 5; v.data.data_val = data;`,
);
sample(
  'commit_args_full',
  'optarc_commit_args',
  {
    session: 7n,
    path: Buffer.from('a.bin'),
    size: 5n,
    mode: 0o644,
    mtime: { seconds: 1_700_000_001n, nanoseconds: 5 },
    sha256: pattern(32, 1),
  },
  `static optarc_time t = { 1700000001LL, 5 };
   static optarc_sha256 h;
   fill(h, 32, 1);
   v.session = 7; v.path.optarc_path_len = 5; v.path.optarc_path_val = "a.bin"; v.size = 5; v.mode = 0644;
   v.mtime = &t; v.sha256 = &h;`,
);
sample(
  'commit_args_bare',
  'optarc_commit_args',
  { session: 7n, path: Buffer.from('b'), size: 0n, mode: 0o600, mtime: null, sha256: null },
  `v.session = 7; v.path.optarc_path_len = 1; v.path.optarc_path_val = "b"; v.size = 0; v.mode = 0600;
   v.mtime = NULL; v.sha256 = NULL;`,
);
sample(
  'list_args',
  'optarc_list_args',
  { session: 3n, dir: Buffer.alloc(0), cookie: 0n, count: 512 },
  'v.session = 3; v.dir.optarc_path_len = 0; v.dir.optarc_path_val = ""; v.cookie = 0; v.count = 512;',
);
sample(
  'burn_args',
  'optarc_burn_args',
  { session: 3n, mode: OptarcBurnMode.OPTARC_BURN_APPEND, copies: 2, media: 'BD-R DL', label: 'ARCHIVE_2024_01' },
  `v.session = 3; v.mode = OPTARC_BURN_APPEND; v.copies = 2; v.media = ${cstr('BD-R DL')};
   v.label = ${cstr('ARCHIVE_2024_01')};`,
);
sample(
  'burn_copy_args',
  'optarc_burn_copy_args',
  { session: 3n, copies: 1, media: 'DVD+R' },
  `v.session = 3; v.copies = 1; v.media = ${cstr('DVD+R')};`,
);
sample('drive_args', 'optarc_drive_args', { session: 3n, drive: 'sr0' }, `v.session = 3; v.drive = ${cstr('sr0')};`);
sample(
  'unmount_args',
  'optarc_unmount_args',
  { session: 3n, drive: 'sr1', eject: true },
  `v.session = 3; v.drive = ${cstr('sr1')}; v.eject = TRUE;`,
);
sample('job_args', 'optarc_job_args', { session: 3n, job: 2n ** 63n }, 'v.session = 3; v.job = 0x8000000000000000ULL;');
sample(
  'vol_list_args',
  'optarc_vol_list_args',
  { session: 3n, drive: 'sr0', dir: Buffer.from('/'), cookie: 17n, count: 100 },
  `v.session = 3; v.drive = ${cstr('sr0')}; v.dir.optarc_path_len = 1; v.dir.optarc_path_val = "/";
   v.cookie = 17; v.count = 100;`,
);
sample(
  'vol_read_args',
  'optarc_vol_read_args',
  { session: 3n, drive: 'sr0', path: Buffer.from('DCIM/0001.JPG'), offset: 1_048_576n, count: 1_048_576 },
  `v.session = 3; v.drive = ${cstr('sr0')}; v.path.optarc_path_len = 13; v.path.optarc_path_val = "DCIM/0001.JPG";
   v.offset = 1048576; v.count = 1048576;`,
);

// ---------------------------------------------------------------- results

const since = { seconds: 1_699_999_000n, nanoseconds: 250 };
sample(
  'hello_res_ok',
  'optarc_hello_res',
  {
    tag: S.OPTARC_OK,
    value: {
      protocol: 1,
      session: 0x0123456789abcdefn,
      lease_seconds: 30,
      quota: { limit: 1n << 40n, used: 12_345n },
      agent_time: { seconds: -1n, nanoseconds: 999_999_999 },
      charset: 'iso-8859-1',
      max_data: 1_048_576,
    },
  },
  `optarc_hello_ok *ok = &v.optarc_hello_res_u.ok;
   v.status = OPTARC_OK; ok->protocol = 1; ok->session = 0x0123456789abcdefULL; ok->lease_seconds = 30;
   ok->quota.limit = 1ULL << 40; ok->quota.used = 12345; ok->agent_time.seconds = -1; ok->agent_time.nanoseconds = 999999999;
   ok->charset = ${cstr('iso-8859-1')}; ok->max_data = 1048576;`,
);
sample(
  'hello_res_busy',
  'optarc_hello_res',
  {
    tag: S.OPTARC_BUSY,
    value: {
      detail: { tag: S.OPTARC_BUSY, value: { holder: '192.168.1.20', client: 'ultra5', since } },
      message: 'ultra5 (192.168.1.20) controls the agent: wait for its BYE or its lease to lapse',
    },
  },
  `optarc_fail *f = &v.optarc_hello_res_u.fail;
   v.status = OPTARC_BUSY; f->detail.status = OPTARC_BUSY;
   f->detail.optarc_detail_u.busy.holder = ${cstr('192.168.1.20')};
   f->detail.optarc_detail_u.busy.client = ${cstr('ultra5')};
   f->detail.optarc_detail_u.busy.since.seconds = 1699999000LL; f->detail.optarc_detail_u.busy.since.nanoseconds = 250;
   f->message = ${cstr('ultra5 (192.168.1.20) controls the agent: wait for its BYE or its lease to lapse')};`,
);
sample(
  'hello_res_version',
  'optarc_hello_res',
  {
    tag: S.OPTARC_VERSION_MISMATCH,
    value: { detail: { tag: S.OPTARC_VERSION_MISMATCH, value: { low: 1, high: 1 } }, message: 'speak protocol 1' },
  },
  `optarc_fail *f = &v.optarc_hello_res_u.fail;
   v.status = OPTARC_VERSION_MISMATCH; f->detail.status = OPTARC_VERSION_MISMATCH;
   f->detail.optarc_detail_u.versions.low = 1; f->detail.optarc_detail_u.versions.high = 1;
   f->message = ${cstr('speak protocol 1')};`,
);
sample('res_ok', 'optarc_res', { tag: S.OPTARC_OK, value: undefined }, 'v.status = OPTARC_OK;');
sample(
  'res_checksum_mismatch',
  'optarc_res',
  {
    tag: S.OPTARC_CHECKSUM_MISMATCH,
    value: {
      detail: { tag: S.OPTARC_CHECKSUM_MISMATCH, value: { expected: pattern(32, 1), actual: pattern(32, 2) } },
      message: 'the SHA-256 of the staged data differs from the one sent: write the file again',
    },
  },
  `optarc_fail *f = &v.optarc_res_u.fail;
   v.status = OPTARC_CHECKSUM_MISMATCH; f->detail.status = OPTARC_CHECKSUM_MISMATCH;
   fill(f->detail.optarc_detail_u.digests.expected, 32, 1);
   fill(f->detail.optarc_detail_u.digests.actual, 32, 2);
   f->message = ${cstr('the SHA-256 of the staged data differs from the one sent: write the file again')};`,
);
sample(
  'res_size_mismatch',
  'optarc_res',
  {
    tag: S.OPTARC_SIZE_MISMATCH,
    value: {
      detail: { tag: S.OPTARC_SIZE_MISMATCH, value: { expected: 10n, actual: 2n ** 64n - 1n } },
      message: 'size',
    },
  },
  `optarc_fail *f = &v.optarc_res_u.fail;
   v.status = OPTARC_SIZE_MISMATCH; f->detail.status = OPTARC_SIZE_MISMATCH;
   f->detail.optarc_detail_u.sizes.expected = 10; f->detail.optarc_detail_u.sizes.actual = 0xffffffffffffffffULL;
   f->message = ${cstr('size')};`,
);
sample(
  'res_quota_exceeded',
  'optarc_res',
  {
    tag: S.OPTARC_QUOTA_EXCEEDED,
    value: {
      detail: { tag: S.OPTARC_QUOTA_EXCEEDED, value: { limit: 1n << 32n, used: (1n << 32n) + 1n } },
      message: 'quota',
    },
  },
  `optarc_fail *f = &v.optarc_res_u.fail;
   v.status = OPTARC_QUOTA_EXCEEDED; f->detail.status = OPTARC_QUOTA_EXCEEDED;
   f->detail.optarc_detail_u.quota.limit = 1ULL << 32; f->detail.optarc_detail_u.quota.used = (1ULL << 32) + 1;
   f->message = ${cstr('quota')};`,
);
sample(
  'res_not_found_default_detail',
  'optarc_res',
  {
    tag: S.OPTARC_NOT_FOUND,
    value: { detail: { tag: S.OPTARC_NOT_FOUND, value: undefined }, message: 'données/é.txt introuvable' },
  },
  `optarc_fail *f = &v.optarc_res_u.fail;
   v.status = OPTARC_NOT_FOUND; f->detail.status = OPTARC_NOT_FOUND;
   f->message = ${cstr('données/é.txt introuvable')};`,
);
sample(
  'write_res_ok',
  'optarc_write_res',
  { tag: S.OPTARC_OK, value: { size: 4101n } },
  'v.status = OPTARC_OK; v.optarc_write_res_u.ok.size = 4101;',
);
sample(
  'commit_res_ok',
  'optarc_commit_res',
  { tag: S.OPTARC_OK, value: { sha256: pattern(32, 5), size: 5n } },
  'v.status = OPTARC_OK; fill(v.optarc_commit_res_u.ok.sha256, 32, 5); v.optarc_commit_res_u.ok.size = 5;',
);

const entries = [
  {
    name: Buffer.from('photo.jpg'),
    kind: OptarcKind.OPTARC_FILE,
    size: 1_234_567n,
    mode: 0o644,
    mtime: { seconds: 1_600_000_000n, nanoseconds: 1 },
    committed: true,
    sha256: pattern(32, 9),
  },
  {
    name: Buffer.from('raw'),
    kind: OptarcKind.OPTARC_DIR,
    size: 0n,
    mode: 0o755,
    mtime: { seconds: 1_600_000_002n, nanoseconds: 0 },
    committed: false,
    sha256: null,
  },
];
const cEntries = `static optarc_entry e[2];
   static optarc_sha256 h;
   fill(h, 32, 9);
   e[0].name.name_len = 9; e[0].name.name_val = "photo.jpg"; e[0].kind = OPTARC_FILE; e[0].size = 1234567;
   e[0].mode = 0644; e[0].mtime.seconds = 1600000000LL; e[0].mtime.nanoseconds = 1; e[0].committed = TRUE; e[0].sha256 = &h;
   e[1].name.name_len = 3; e[1].name.name_val = "raw"; e[1].kind = OPTARC_DIR; e[1].size = 0;
   e[1].mode = 0755; e[1].mtime.seconds = 1600000002LL; e[1].mtime.nanoseconds = 0; e[1].committed = FALSE; e[1].sha256 = NULL;`;
sample(
  'list_res_two_entries',
  'optarc_list_res',
  { tag: S.OPTARC_OK, value: { entries, cookie: 2n, eof: false } },
  `${cEntries}
   v.status = OPTARC_OK; v.optarc_list_res_u.ok.entries.entries_len = 2; v.optarc_list_res_u.ok.entries.entries_val = e;
   v.optarc_list_res_u.ok.cookie = 2; v.optarc_list_res_u.ok.eof = FALSE;`,
);
sample(
  'stat_res_ok',
  'optarc_stat_res',
  { tag: S.OPTARC_OK, value: entries[0] },
  `${cEntries}
   v.status = OPTARC_OK; v.optarc_stat_res_u.ok = e[0];`,
);
sample(
  'job_res_ok',
  'optarc_job_res',
  { tag: S.OPTARC_OK, value: 0x8000000000000001n },
  'v.status = OPTARC_OK; v.optarc_job_res_u.job = 0x8000000000000001ULL;',
);
sample(
  'job_status_res_ok',
  'optarc_job_status_res',
  {
    tag: S.OPTARC_OK,
    value: {
      job: 12n,
      state: OptarcJobState.OPTARC_JOB_RUNNING,
      step: 'burning',
      percent: 42,
      message: '',
      volumes: [
        {
          vsn: 'OPT000007',
          state: 'writing',
          percent: 40,
          copies: [{ copy: 2, attempt: 1, drive: 'sr1', state: 'writing', percent: 40, error: '' }],
        },
      ],
    },
  },
  `static optarc_copy_status cs[1]; static optarc_volume_status vs[1];
   cs[0].copy = 2; cs[0].attempt = 1; cs[0].drive = "sr1"; cs[0].state = "writing"; cs[0].percent = 40; cs[0].error = "";
   vs[0].vsn = "OPT000007"; vs[0].state = "writing"; vs[0].percent = 40;
   vs[0].copies.copies_len = 1; vs[0].copies.copies_val = cs;
   v.status = OPTARC_OK; v.optarc_job_status_res_u.ok.job = 12; v.optarc_job_status_res_u.ok.state = OPTARC_JOB_RUNNING;
   v.optarc_job_status_res_u.ok.step = ${cstr('burning')}; v.optarc_job_status_res_u.ok.percent = 42;
   v.optarc_job_status_res_u.ok.message = "";
   v.optarc_job_status_res_u.ok.volumes.volumes_len = 1; v.optarc_job_status_res_u.ok.volumes.volumes_val = vs;`,
);
sample(
  'drives_res_two_drives',
  'optarc_drives_res',
  {
    tag: S.OPTARC_OK,
    value: [
      { name: 'sr0', address: '/dev/sr0', loaded: true, media: 'BD-R', vsn: 'OPT001', busy: false },
      { name: 'sr1', address: 'usb:1-2', loaded: false, media: '', vsn: '', busy: true },
    ],
  },
  `static optarc_drive d[2];
   d[0].name = "sr0"; d[0].address = "/dev/sr0"; d[0].loaded = TRUE; d[0].media = "BD-R"; d[0].vsn = "OPT001"; d[0].busy = FALSE;
   d[1].name = "sr1"; d[1].address = "usb:1-2"; d[1].loaded = FALSE; d[1].media = ""; d[1].vsn = ""; d[1].busy = TRUE;
   v.status = OPTARC_OK; v.optarc_drives_res_u.drives.drives_len = 2; v.optarc_drives_res_u.drives.drives_val = d;`,
);
sample(
  'drives_res_fail',
  'optarc_drives_res',
  {
    tag: S.OPTARC_NO_SESSION,
    value: { detail: { tag: S.OPTARC_NO_SESSION, value: undefined }, message: 'HELLO first' },
  },
  `v.status = OPTARC_NO_SESSION; v.optarc_drives_res_u.fail.detail.status = OPTARC_NO_SESSION;
   v.optarc_drives_res_u.fail.message = ${cstr('HELLO first')};`,
);
sample(
  'vol_read_res_ok',
  'optarc_vol_read_res',
  { tag: S.OPTARC_OK, value: { data: Buffer.from('abc'), eof: true } },
  `v.status = OPTARC_OK; v.optarc_vol_read_res_u.ok.data.data_len = 3; v.optarc_vol_read_res_u.ok.data.data_val = "abc";
   v.optarc_vol_read_res_u.ok.eof = TRUE;`,
);

// ---------------------------------------------------------------- catalog, retrieval, re-burn and fixity

const KEY = 'sites/lab/volumes/OPT000001/OPT000001.iso';
const FIXITY_WORDS = 'cloud ok, copy 1 ok — 2026-11-21';
const BAD_NOTE = 'verify failed: sector 1234 unreadable?';
const volumes = [
  {
    vsn: 'OPT000001',
    label: 'RUN_42',
    media: 'BD-R',
    state: 'mirrored',
    created: { seconds: 1_700_000_100n, nanoseconds: 7 },
    image_bytes: 25_000_000_000n,
    image_sha256: pattern(32, 11),
    sessions: 2,
    files: 3,
    copies: [
      { copy: 1, state: 'verified', medium: 'shelf A/3', drive: 'sr0', note: '' },
      { copy: 2, state: 'bad', medium: '', drive: '', note: BAD_NOTE },
    ],
    cloud_key: KEY,
    cloud_version: 'v2.Xy-z~1',
    fixity: FIXITY_WORDS,
  },
  {
    vsn: 'OPT000002',
    label: '',
    media: 'DVD+R',
    state: 'hot',
    created: { seconds: 1_700_000_200n, nanoseconds: 0 },
    image_bytes: 0n,
    image_sha256: Buffer.alloc(32),
    sessions: 1,
    files: 1,
    copies: [],
    cloud_key: '',
    cloud_version: '',
    fixity: '',
  },
];
/** volumes[] as rpcgen structures: cv[0] with two copies, cv[1] with none and a zero image digest. */
const cVolumes = `static optarc_cat_copy cc[2]; static optarc_cat_volume cv[2];
   cc[0].copy = 1; cc[0].state = "verified"; cc[0].medium = "shelf A/3"; cc[0].drive = "sr0"; cc[0].note = "";
   cc[1].copy = 2; cc[1].state = "bad"; cc[1].medium = ""; cc[1].drive = ""; cc[1].note = ${cstr(BAD_NOTE)};
   cv[0].vsn = "OPT000001"; cv[0].label = "RUN_42"; cv[0].media = "BD-R"; cv[0].state = "mirrored";
   cv[0].created.seconds = 1700000100LL; cv[0].created.nanoseconds = 7; cv[0].image_bytes = 25000000000ULL;
   fill(cv[0].image_sha256, 32, 11); cv[0].sessions = 2; cv[0].files = 3;
   cv[0].copies.copies_len = 2; cv[0].copies.copies_val = cc;
   cv[0].cloud_key = ${cstr(KEY)}; cv[0].cloud_version = "v2.Xy-z~1"; cv[0].fixity = ${cstr(FIXITY_WORDS)};
   cv[1].vsn = "OPT000002"; cv[1].label = ""; cv[1].media = "DVD+R"; cv[1].state = "hot";
   cv[1].created.seconds = 1700000200LL; cv[1].created.nanoseconds = 0; cv[1].image_bytes = 0;
   cv[1].sessions = 1; cv[1].files = 1; cv[1].copies.copies_len = 0; cv[1].copies.copies_val = NULL;
   cv[1].cloud_key = ""; cv[1].cloud_version = ""; cv[1].fixity = "";`;

const files = [
  {
    // ISO-8859-1 bytes: paths are opaque, not strings.
    path: Buffer.from('run42/caf\u00e9.fits', 'latin1'),
    size: 10n,
    mode: 0o644,
    mtime: { seconds: 1_600_000_000n, nanoseconds: 1 },
    sha256: pattern(32, 21),
    vsn: 'OPT000001',
    session: 1,
    part: 0,
    parts: 0,
    part_offset: 0n,
    part_length: 10n,
  },
  {
    path: Buffer.from('run42/big.raw'),
    size: 6_000_000_000n,
    mode: 0o600,
    mtime: { seconds: 1_600_000_002n, nanoseconds: 999_999_999 },
    sha256: pattern(32, 22),
    vsn: 'OPT000002',
    session: 1,
    part: 2,
    parts: 3,
    part_offset: 4_000_000_000n,
    part_length: 2_000_000_000n,
  },
];
/** files[] as rpcgen structures. */
const cFiles = `static optarc_cat_file cf[2];
   cf[0].path.optarc_path_len = 15; cf[0].path.optarc_path_val = "run42/caf\\351.fits"; cf[0].size = 10; cf[0].mode = 0644;
   cf[0].mtime.seconds = 1600000000LL; cf[0].mtime.nanoseconds = 1; fill(cf[0].sha256, 32, 21); cf[0].vsn = "OPT000001";
   cf[0].session = 1; cf[0].part = 0; cf[0].parts = 0; cf[0].part_offset = 0; cf[0].part_length = 10;
   cf[1].path.optarc_path_len = 13; cf[1].path.optarc_path_val = "run42/big.raw"; cf[1].size = 6000000000ULL;
   cf[1].mode = 0600; cf[1].mtime.seconds = 1600000002LL; cf[1].mtime.nanoseconds = 999999999;
   fill(cf[1].sha256, 32, 22); cf[1].vsn = "OPT000002"; cf[1].session = 1; cf[1].part = 2; cf[1].parts = 3;
   cf[1].part_offset = 4000000000ULL; cf[1].part_length = 2000000000ULL;`;

const TOKEN = '0123456789abcdef0123456789abcdef';
const RETRIEVAL_NOTE = 'copy 2 in sr1: sha256 mismatch; read copy 1 in sr0';
const retrieval = {
  token: TOKEN,
  state: OptarcRetrievalState.OPTARC_RETRIEVAL_READY,
  mode: OptarcRetrieveMode.OPTARC_OFFLINE,
  priority: 2,
  position: 0,
  deadline: { seconds: 1_700_100_000n, nanoseconds: 0 },
  vsn: 'OPT000001',
  path: files[0].path,
  size: 10n,
  sha256: pattern(32, 21),
  source: 'disc sr0 copy 1',
  percent: 100,
  expires: { seconds: 1_700_186_400n, nanoseconds: 500 },
  message: RETRIEVAL_NOTE,
};
const FIXITY_DETAIL = 'sha256 mismatch: propose optarc reburn OPT000001 --copies 1';

sample(
  'cat_volumes_args',
  'optarc_cat_volumes_args',
  { session: 9n, since: { seconds: 1_690_000_000n, nanoseconds: 0 }, cookie: 0x1_0000_0001n, count: 128 },
  `v.session = 9; v.since.seconds = 1690000000LL; v.since.nanoseconds = 0; v.cookie = 0x100000001ULL; v.count = 128;`,
);
sample(
  'cat_volumes_res_two_volumes',
  'optarc_cat_volumes_res',
  { tag: S.OPTARC_OK, value: { volumes, cookie: 2n, eof: false } },
  `${cVolumes}
   v.status = OPTARC_OK; v.optarc_cat_volumes_res_u.ok.volumes.volumes_len = 2;
   v.optarc_cat_volumes_res_u.ok.volumes.volumes_val = cv; v.optarc_cat_volumes_res_u.ok.cookie = 2;
   v.optarc_cat_volumes_res_u.ok.eof = FALSE;`,
);
sample(
  'cat_volumes_res_bad_cookie',
  'optarc_cat_volumes_res',
  {
    tag: S.OPTARC_BAD_COOKIE,
    value: { detail: { tag: S.OPTARC_BAD_COOKIE, value: undefined }, message: 'start again with cookie 0' },
  },
  `v.status = OPTARC_BAD_COOKIE; v.optarc_cat_volumes_res_u.fail.detail.status = OPTARC_BAD_COOKIE;
   v.optarc_cat_volumes_res_u.fail.message = ${cstr('start again with cookie 0')};`,
);
sample(
  'cat_find_args',
  'optarc_cat_find_args',
  {
    session: 9n,
    match: OptarcMatch.OPTARC_MATCH_GLOB,
    pattern: Buffer.from('run4?/[ab]*.fits'),
    since: { seconds: 0n, nanoseconds: 0 },
    vsn: 'OPT000001',
    cookie: 5n,
    count: 64,
  },
  `v.session = 9; v.match = OPTARC_MATCH_GLOB; v.pattern.optarc_path_len = 16;
   v.pattern.optarc_path_val = ${cstr('run4?/[ab]*.fits')}; v.since.seconds = 0; v.vsn = "OPT000001"; v.cookie = 5;
   v.count = 64;`,
);
sample(
  'cat_find_res_two_files',
  'optarc_cat_find_res',
  { tag: S.OPTARC_OK, value: { files, cookie: 0n, eof: true } },
  `${cFiles}
   v.status = OPTARC_OK; v.optarc_cat_find_res_u.ok.files.files_len = 2; v.optarc_cat_find_res_u.ok.files.files_val = cf;
   v.optarc_cat_find_res_u.ok.cookie = 0; v.optarc_cat_find_res_u.ok.eof = TRUE;`,
);
sample(
  'cat_find_res_bad_argument',
  'optarc_cat_find_res',
  {
    tag: S.OPTARC_BAD_ARGUMENT,
    value: { detail: { tag: S.OPTARC_BAD_ARGUMENT, value: undefined }, message: 'count 0: ask for 1 to 128' },
  },
  `v.status = OPTARC_BAD_ARGUMENT; v.optarc_cat_find_res_u.fail.detail.status = OPTARC_BAD_ARGUMENT;
   v.optarc_cat_find_res_u.fail.message = ${cstr('count 0: ask for 1 to 128')};`,
);
sample(
  'whereis_args_by_sha256',
  'optarc_whereis_args',
  { session: 9n, path: Buffer.alloc(0), sha256: pattern(32, 21), cookie: 0n, count: 10 },
  `static optarc_sha256 h;
   fill(h, 32, 21);
   v.session = 9; v.path.optarc_path_len = 0; v.path.optarc_path_val = ""; v.sha256 = &h; v.cookie = 0; v.count = 10;`,
);
sample(
  'whereis_args_by_path',
  'optarc_whereis_args',
  { session: 9n, path: Buffer.from('run42/big.raw'), sha256: null, cookie: 3n, count: 1 },
  `v.session = 9; v.path.optarc_path_len = 13; v.path.optarc_path_val = "run42/big.raw"; v.sha256 = NULL;
   v.cookie = 3; v.count = 1;`,
);
sample(
  'whereis_res_two_locations',
  'optarc_whereis_res',
  {
    tag: S.OPTARC_OK,
    value: {
      locations: [
        { file: files[0], volume: volumes[0] },
        { file: files[1], volume: volumes[1] },
      ],
      cookie: 2n,
      eof: true,
    },
  },
  `${cVolumes}
   ${cFiles}
   static optarc_location l[2];
   l[0].file = cf[0]; l[0].volume = cv[0]; l[1].file = cf[1]; l[1].volume = cv[1];
   v.status = OPTARC_OK; v.optarc_whereis_res_u.ok.locations.locations_len = 2;
   v.optarc_whereis_res_u.ok.locations.locations_val = l; v.optarc_whereis_res_u.ok.cookie = 2;
   v.optarc_whereis_res_u.ok.eof = TRUE;`,
);
sample(
  'retrieve_args_by_sha256',
  'optarc_retrieve_args',
  {
    session: 9n,
    path: Buffer.alloc(0),
    sha256: pattern(32, 21),
    vsn: '',
    mode: OptarcRetrieveMode.OPTARC_ONLINE,
    priority: 0,
    deadline: { seconds: 0n, nanoseconds: 0 },
  },
  `static optarc_sha256 h;
   fill(h, 32, 21);
   v.session = 9; v.path.optarc_path_len = 0; v.path.optarc_path_val = ""; v.sha256 = &h; v.vsn = "";
   v.mode = OPTARC_ONLINE; v.priority = 0;`,
);
sample(
  'retrieve_args_by_path',
  'optarc_retrieve_args',
  {
    session: 9n,
    path: files[0].path,
    sha256: null,
    vsn: 'OPT000001',
    mode: OptarcRetrieveMode.OPTARC_OFFLINE,
    priority: 5,
    deadline: { seconds: 1_700_100_000n, nanoseconds: 250_000_000 },
  },
  `v.session = 9; v.path.optarc_path_len = 15; v.path.optarc_path_val = "run42/caf\\351.fits"; v.sha256 = NULL;
   v.vsn = "OPT000001"; v.mode = OPTARC_OFFLINE; v.priority = 5;
   v.deadline.seconds = 1700100000LL; v.deadline.nanoseconds = 250000000;`,
);
sample(
  'retrieve_res_ready',
  'optarc_retrieve_res',
  { tag: S.OPTARC_OK, value: retrieval },
  `optarc_retrieval *r = &v.optarc_retrieve_res_u.ok;
   v.status = OPTARC_OK; r->token = ${cstr(TOKEN)}; r->state = OPTARC_RETRIEVAL_READY; r->mode = OPTARC_OFFLINE;
   r->priority = 2; r->position = 0; r->deadline.seconds = 1700100000LL; r->deadline.nanoseconds = 0;
   r->vsn = "OPT000001"; r->path.optarc_path_len = 15; r->path.optarc_path_val = "run42/caf\\351.fits"; r->size = 10;
   fill(r->sha256, 32, 21); r->source = ${cstr('disc sr0 copy 1')}; r->percent = 100;
   r->expires.seconds = 1700186400LL; r->expires.nanoseconds = 500; r->message = ${cstr(RETRIEVAL_NOTE)};`,
);
sample(
  'retrieve_res_queued',
  'optarc_retrieve_res',
  {
    tag: S.OPTARC_OK,
    value: {
      ...retrieval,
      state: OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED,
      position: 41,
      source: '',
      percent: 0,
      expires: { seconds: 0n, nanoseconds: 0 },
      message: '',
    },
  },
  `optarc_retrieval *r = &v.optarc_retrieve_res_u.ok;
   v.status = OPTARC_OK; r->token = ${cstr(TOKEN)}; r->state = OPTARC_RETRIEVAL_QUEUED; r->mode = OPTARC_OFFLINE;
   r->priority = 2; r->position = 41; r->deadline.seconds = 1700100000LL; r->deadline.nanoseconds = 0;
   r->vsn = "OPT000001"; r->path.optarc_path_len = 15; r->path.optarc_path_val = "run42/caf\\351.fits"; r->size = 10;
   fill(r->sha256, 32, 21); r->source = ""; r->percent = 0; r->message = "";`,
);
for (const [label, status, cStatus, message] of [
  ['retrieve_res_not_ready', S.OPTARC_NOT_READY, 'OPTARC_NOT_READY', 'not fetched yet: ask RETRIEVE_STATUS'],
  ['retrieve_res_expired', S.OPTARC_EXPIRED, 'OPTARC_EXPIRED', 'token expired at 2026-11-22 05:00 UTC'],
  ['retrieve_res_no_source', S.OPTARC_NO_SOURCE, 'OPTARC_NO_SOURCE', 'load OPT000001 or connect the gateway'],
] as const) {
  sample(
    label,
    'optarc_retrieve_res',
    { tag: status, value: { detail: { tag: status, value: undefined }, message } },
    `v.status = ${cStatus}; v.optarc_retrieve_res_u.fail.detail.status = ${cStatus};
     v.optarc_retrieve_res_u.fail.message = ${cstr(message)};`,
  );
}
sample(
  'token_args',
  'optarc_token_args',
  { session: 0xffffffffffffffffn, token: TOKEN },
  `v.session = 0xffffffffffffffffULL; v.token = ${cstr(TOKEN)};`,
);
sample(
  'cached_args',
  'optarc_cached_args',
  { session: 9n, token: TOKEN, offset: 5_000_000_000n, count: 1_048_576 },
  `v.session = 9; v.token = ${cstr(TOKEN)}; v.offset = 5000000000ULL; v.count = 1048576;`,
);
sample(
  'cached_res_expired',
  'optarc_vol_read_res',
  {
    tag: S.OPTARC_EXPIRED,
    value: { detail: { tag: S.OPTARC_EXPIRED, value: undefined }, message: 'collected already' },
  },
  `v.status = OPTARC_EXPIRED; v.optarc_vol_read_res_u.fail.detail.status = OPTARC_EXPIRED;
   v.optarc_vol_read_res_u.fail.message = ${cstr('collected already')};`,
);
sample(
  'reburn_args',
  'optarc_reburn_args',
  { session: 9n, vsn: 'OPT000001', copies: 16, media: 'BD-R DL' },
  `v.session = 9; v.vsn = "OPT000001"; v.copies = 16; v.media = ${cstr('BD-R DL')};`,
);
sample(
  'reburn_args_own_media',
  'optarc_reburn_args',
  { session: 9n, vsn: 'OPT000002', copies: 1, media: '' },
  'v.session = 9; v.vsn = "OPT000002"; v.copies = 1; v.media = "";',
);
sample(
  'fixity_args',
  'optarc_fixity_args',
  { session: 9n, run: true, vsn: 'OPT000001', cookie: 7n, count: 128 },
  'v.session = 9; v.run = TRUE; v.vsn = "OPT000001"; v.cookie = 7; v.count = 128;',
);
sample(
  'fixity_res_two_checks',
  'optarc_fixity_res',
  {
    tag: S.OPTARC_OK,
    value: {
      checks: [
        {
          vsn: 'OPT000001',
          target: 'cloud',
          ok: true,
          at: { seconds: 1_700_050_000n, nanoseconds: 1 },
          bytes: 25_000_000_000n,
          detail: '',
        },
        {
          vsn: 'OPT000001',
          target: 'copy 2',
          ok: false,
          at: { seconds: 1_700_050_100n, nanoseconds: 2 },
          bytes: 4096n,
          detail: FIXITY_DETAIL,
        },
      ],
      cookie: 2n,
      eof: false,
      running: true,
      failures: 1,
      last_pass: { seconds: 1_699_990_000n, nanoseconds: 0 },
      next_pass: { seconds: 1_700_076_400n, nanoseconds: 0 },
    },
  },
  `static optarc_fixity_check fc[2];
   optarc_fixity_ok *ok = &v.optarc_fixity_res_u.ok;
   fc[0].vsn = "OPT000001"; fc[0].target = "cloud"; fc[0].ok = TRUE; fc[0].at.seconds = 1700050000LL;
   fc[0].at.nanoseconds = 1; fc[0].bytes = 25000000000ULL; fc[0].detail = "";
   fc[1].vsn = "OPT000001"; fc[1].target = "copy 2"; fc[1].ok = FALSE; fc[1].at.seconds = 1700050100LL;
   fc[1].at.nanoseconds = 2; fc[1].bytes = 4096; fc[1].detail = ${cstr(FIXITY_DETAIL)};
   v.status = OPTARC_OK; ok->checks.checks_len = 2; ok->checks.checks_val = fc; ok->cookie = 2; ok->eof = FALSE;
   ok->running = TRUE; ok->failures = 1; ok->last_pass.seconds = 1699990000LL; ok->last_pass.nanoseconds = 0;
   ok->next_pass.seconds = 1700076400LL; ok->next_pass.nanoseconds = 0;`,
);
sample(
  'fixity_res_corrupt',
  'optarc_fixity_res',
  {
    tag: S.OPTARC_CORRUPT,
    value: { detail: { tag: S.OPTARC_CORRUPT, value: undefined }, message: 'every source failed its SHA-256 check' },
  },
  `v.status = OPTARC_CORRUPT; v.optarc_fixity_res_u.fail.detail.status = OPTARC_CORRUPT;
   v.optarc_fixity_res_u.fail.message = ${cstr('every source failed its SHA-256 check')};`,
);

function cProgram(): string {
  const blocks = samples.map(
    (s) => `  {
    ${s.type} v;
    memset(&v, 0, sizeof v);
    ${s.c.trim()}
    emit("${s.label}", (encoder)xdr_${s.type}, &v);
  }`,
  );
  return `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "optarc.h"

typedef bool_t (*encoder)(XDR *, void *);
static char buf[1 << 16];

static void emit(const char *label, encoder proc, void *obj) {
  XDR xdrs;
  u_int i, n;
  xdrmem_create(&xdrs, buf, sizeof buf, XDR_ENCODE);
  if (!proc(&xdrs, obj)) {
    fprintf(stderr, "%s: rpcgen's encoder failed\\n", label);
    exit(1);
  }
  n = xdr_getpos(&xdrs);
  printf("%s ", label);
  for (i = 0; i < n; i++) printf("%02x", (unsigned char)buf[i]);
  printf("\\n");
  xdr_destroy(&xdrs);
}

static void fill(char *p, int n, int seed) {
  int i;
  for (i = 0; i < n; i++) p[i] = (char)((i * 7 + seed) & 0xff);
}

int main(void) {
${blocks.join('\n')}
  return 0;
}
`;
}

/** label -> hex, from rpcgen's encoders. */
let rpcgenBytes: Map<string, string>;

test.before(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-rpcgen-'));
  try {
    copyFileSync(path.join(ROOT, 'clients/protocol/optarc.x'), path.join(dir, 'optarc.x'));
    execFileSync('rpcgen', ['optarc.x'], { cwd: dir, stdio: 'pipe' });
    writeFileSync(path.join(dir, 'encode.c'), cProgram());
    execFileSync(
      'gcc',
      [
        '-Wall',
        '-Werror',
        '-Wno-unused-variable',
        '-I/usr/include/tirpc',
        '-o',
        'encode',
        'encode.c',
        'optarc_xdr.c',
        '-ltirpc',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    const out = execFileSync(path.join(dir, 'encode'), { encoding: 'utf8' });
    rpcgenBytes = new Map(
      out
        .trim()
        .split('\n')
        .map((line) => {
          const [label, hex] = line.split(' ');
          return [label, hex ?? ''];
        }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rpcgen encoded every sample', (t) => {
  t.deepEqual(
    [...rpcgenBytes.keys()],
    samples.map((s) => s.label),
  );
  t.is(new Set(samples.map((s) => s.label)).size, samples.length, 'labels are unique');
});

test('the samples cover every argument and result type of OPTARC_V1', (t) => {
  const codecs = createCodecs();
  const used = new Set<unknown>(samples.map((s) => codecs[s.type]));
  const missing: string[] = [];
  for (const p of Object.values(createOptarcV1Procedures(codecs))) {
    for (const type of [p.args, p.result]) if (type.name !== 'void' && !used.has(type)) missing.push(type.name);
  }
  t.deepEqual(missing, []);
});

for (const s of samples) {
  test(`${s.label}: our ${s.type} bytes equal rpcgen's, and rpcgen's bytes decode to the value`, (t) => {
    const codec = createCodecs()[s.type] as x.XdrType<unknown>;
    const expected = rpcgenBytes.get(s.label);
    if (expected === undefined) return t.fail(`rpcgen produced no ${s.label}`);
    t.true(expected.length > 0);
    t.is(encode(codec, s.value).toString('hex'), expected);
    t.deepEqual(decode(codec, Buffer.from(expected, 'hex')), s.value);
  });
}
