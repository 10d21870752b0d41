/**
 * REBURN end to end: a real agent mirrors its volume to a real gateway on the
 * test RGW; a shelved disc is lost and the local image released; the disc is
 * re-made from the cloud image through `optarc reburn` and through
 * `optarc-gateway command AGENT reburn`, recorded as new verified copies of
 * the same VSN whose discs are the image byte for byte and whose files read
 * back identical. Refusals (unknown VSN, a volume not mirrored yet, too many
 * copies), a download found damaged (CORRUPT), a download resumed after
 * the agent was killed while it waited for the gateway, and one resumed after
 * the agent was killed in the middle of fetching.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { chunkRecordPath, partPath, readChunkRecord, writeChunkRecord } from '../../edge-agent/jobs/reburn-steps.js';
import { BIN, run } from '../helpers/processes.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { getObject, makeGateway, volumeStates, waitFor } from '../mirror/mirror-kit.js';
import { readCopy } from './burn-kit.js';
import { burnOneVolume, discSha256, jobStatus, lookAtVolume, reburnAgent, sha256 } from './reburn-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const skipped = missing ? ` [SKIPPED: ${missing}]` : '';

rgwTest(
  `a lost disc is re-burned from its cloud image with optarc reburn and with the gateway's reburn command, as verified new copies of the same VSN${skipped}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { id: agentId, token } = await gw.issue('lab-1');
    await gw.start();
    const agent = await reburnAgent(t, gw, token, { chunkBytes: 512 * 1024, downloadConcurrency: 3 });
    const { vsn, files } = await burnOneVolume(t, agent, 2);
    await waitFor(`${vsn} mirrored`, () => volumeStates(agent).get(vsn) === 'mirrored');
    const before = lookAtVolume(agent, vsn);
    t.deepEqual([...before.verified.keys()], [1, 2]);
    t.truthy(before.cloud);
    const cloudImage = await getObject(gw, before.cloud!.key);
    t.is(sha256(cloudImage), before.imageSha256, 'the cloud object is the mastered image');

    // the local image is released and the shelved disc of copy 1 is lost
    await fs.rm(path.join(agent.state, 'images', `${vsn}.iso`));
    await fs.rm(before.verified.get(1)!);

    // refusals, before any job exists
    const unknown = await agent.cli('reburn', 'NOSUCH000001', '--json');
    t.is(unknown.code, 4, unknown.stderr);
    t.is(JSON.parse(unknown.stderr).error, 'OPTARC_NOT_FOUND');
    t.regex(JSON.parse(unknown.stderr).message, /no volume "NOSUCH000001"/);
    const tooMany = await agent.cli('reburn', vsn, '--copies', '9');
    t.is(tooMany.code, 4, tooMany.stderr);
    t.regex(tooMany.stderr, /OPTARC_BAD_ARGUMENT: copies must be 1 to 8, not 9/);
    const usage = await agent.cli('reburn');
    t.is(usage.code, 2, 'no VSN is a usage error');
    t.is(lookAtVolume(agent, vsn).requiredCopies, 2, 'a refused REBURN changes nothing');

    // through the CLI: downloaded from the cloud, burned, verified as copy 3
    const t0 = Date.now();
    const cli = await agent.cli('reburn', vsn, '--copies', '1', '--wait', '--json');
    t.is(cli.code, 0, cli.stderr);
    t.log(
      `optarc reburn --wait of a ${cloudImage.length}-byte image (download, check, burn, verify): ${Date.now() - t0} ms`,
    );
    const done = JSON.parse(cli.stdout);
    t.is(done.step, 'done');
    t.is(done.percent, 100);
    t.deepEqual(
      done.volumes.map((v: { vsn: string }) => v.vsn),
      [vsn],
      'JOB_STATUS names the volume a re-burn adds copies to',
    );
    t.regex(
      done.message,
      new RegExp(
        `^${vsn}: 1 new copy burned and verified from its cloud image \\(${cloudImage.length} bytes downloaded in ${Math.ceil(cloudImage.length / (512 * 1024))} chunks; SHA-256 ${before.imageSha256} checked\\); ${vsn} now has 3 verified copies$`,
      ),
    );
    const after = lookAtVolume(agent, vsn);
    t.is(after.requiredCopies, 3);
    t.deepEqual([...after.verified.keys()], [1, 2, 3]);
    t.is(after.state, 'mirrored', 'more discs leave the cloud copy as it was: still mirrored');
    const copy3 = after.verified.get(3)!;
    t.is(await discSha256(copy3, after.imageBytes), before.imageSha256, 'the new disc holds the original image');
    const payload = await readCopy(t, copy3);
    t.is(payload.size, files.size);
    for (const [p, data] of files) t.true(payload.get(p)?.equals(data), `${p} reads back identical from copy 3`);
    const copyArea = path.join(agent.state, 'images', 'copies');
    t.deepEqual(await fs.readdir(copyArea), [`${vsn}.iso`], 'no partial download or chunk record is left');

    // through the gateway: the agent queues the job and answers with it
    const viaGateway = await run(
      BIN.gateway,
      ['command', agentId, 'reburn', vsn, '--copies', '1', '--wait', '--config', gw.config],
      {},
      60_000,
    );
    t.is(viaGateway.code, 0, `${viaGateway.stdout}${viaGateway.stderr}`);
    const queued = new RegExp(`reburn: ok: re-burn of ${vsn} queued as job (\\d+)`).exec(viaGateway.stdout);
    if (!queued) return t.fail(`the agent's answer names the job: ${viaGateway.stdout}`);
    const followed = await jobStatus(agent, queued[1]!, true);
    t.is(followed.code, 0, followed.stderr);
    t.is(followed.status.step, 'done');
    // the image downloaded for copy 3 is still in the copy area: checked, and nothing downloaded
    t.regex(
      followed.status.message,
      /from the local image .*\(still on the agent: nothing downloaded; SHA-256 [0-9a-f]{64} checked\)/,
    );
    t.regex(followed.status.message, new RegExp(`${vsn} now has 4 verified copies$`));
    const last = lookAtVolume(agent, vsn);
    t.deepEqual([...last.verified.keys()], [1, 2, 3, 4]);
    t.is(await discSha256(last.verified.get(4)!, last.imageBytes), before.imageSha256);

    // the gateway's command answered failed with the agent's refusal
    const refused = await run(
      BIN.gateway,
      ['command', agentId, 'reburn', 'NOSUCH000001', '--wait', '--config', gw.config],
      {},
      60_000,
    );
    t.is(refused.code, 1, refused.stdout);
    t.regex(refused.stdout, /reburn: failed: there is no volume "NOSUCH000001"/);
    const badCopies = await run(BIN.gateway, [
      'command',
      agentId,
      'reburn',
      vsn,
      '--copies',
      '17',
      '--config',
      gw.config,
    ]);
    t.is(badCopies.code, 2, 'more than 16 copies is a usage error');
  },
);

rgwTest(
  `REBURN of a volume not mirrored yet is refused NO_SOURCE; a damaged download fails CORRUPT; a download cut short by a killed agent resumes, fetching only the missing chunks${skipped}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { token } = await gw.issue('lab-1');
    const chunkBytes = 256 * 1024;
    // the gateway is not up yet: the volume cannot be mirrored
    const agent = await reburnAgent(t, gw, token, { chunkBytes, downloadConcurrency: 2 });
    const { vsn, files } = await burnOneVolume(t, agent, 1);
    const unmirrored = await agent.cli('reburn', vsn, '--json');
    t.is(unmirrored.code, 4, unmirrored.stderr);
    t.is(JSON.parse(unmirrored.stderr).error, 'OPTARC_NO_SOURCE');
    t.regex(JSON.parse(unmirrored.stderr).message, /has no cloud copy yet/);

    await gw.start();
    await waitFor(`${vsn} mirrored`, () => volumeStates(agent).get(vsn) === 'mirrored');
    const before = lookAtVolume(agent, vsn);
    const image = await getObject(gw, before.cloud!.key);
    t.is(sha256(image), before.imageSha256);
    const chunks = Math.ceil(image.length / chunkBytes);
    t.true(chunks >= 8, `the image spans several chunks (${chunks})`);
    await fs.rm(path.join(agent.state, 'images', `${vsn}.iso`));
    const target = path.join(agent.state, 'images', 'copies', `${vsn}.iso`);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const identity = {
      key: before.cloud!.key,
      versionId: before.cloud!.versionId,
      bytes: image.length,
      sha256: before.imageSha256,
      chunkBytes,
    };

    // a partial download whose recorded chunk 0 holds other bytes: the whole file fails its SHA-256
    const damaged = Buffer.alloc(image.length, 0);
    await fs.writeFile(partPath(target), damaged);
    await writeChunkRecord(chunkRecordPath(target), { ...identity, done: [0] });
    const corrupt = await agent.cli('reburn', vsn, '--wait', '--json');
    t.is(corrupt.code, 6, corrupt.stderr);
    t.regex(
      JSON.parse(corrupt.stdout).message,
      /^CORRUPT: the image of .* has SHA-256 [0-9a-f]{64}, not the [0-9a-f]{64} the catalog recorded: it was deleted/,
    );
    t.deepEqual(await fs.readdir(path.dirname(target)), [], 'the damaged download is deleted, with its record');
    t.is(lookAtVolume(agent, vsn).requiredCopies, 1, 'no copy was added for a damaged image');

    // an earlier attempt left every other chunk (the rest of the file is garbage); no gateway now
    await gw.stop();
    const partial = Buffer.alloc(image.length, 0xaa);
    const kept: number[] = [];
    for (let n = 0; n < chunks; n += 2) {
      image.copy(partial, n * chunkBytes, n * chunkBytes, Math.min(image.length, (n + 1) * chunkBytes));
      kept.push(n);
    }
    const keptBytes = kept.reduce((s, n) => s + Math.min(chunkBytes, image.length - n * chunkBytes), 0);
    await fs.writeFile(partPath(target), partial);
    await writeChunkRecord(chunkRecordPath(target), { ...identity, done: kept });
    const started = await agent.cli('reburn', vsn, '--copies', '1', '--json');
    t.is(started.code, 0, started.stderr);
    const job = JSON.parse(started.stdout).job as string;
    await waitFor('the job waits for the gateway', async () => {
      const s = await jobStatus(agent, job);
      return s.status?.step === 'download' && /waiting for the gateway/.test(s.status.message);
    });
    const waiting = (await jobStatus(agent, job)).status;
    // half the chunks are here: about a quarter of the job (the download is its first half)
    t.true(waiting.percent >= 20 && waiting.percent < 50, `the chunks kept count as downloaded: ${waiting.percent}%`);

    // the agent dies; it comes back, then the gateway: the job resumes from the journal and the chunk record
    agent.child().kill('SIGKILL');
    await new Promise((r) => agent.child().once('exit', r));
    await agent.restart();
    await gw.start();
    const resumed = await jobStatus(agent, job, true);
    t.is(resumed.code, 0, resumed.stderr);
    t.is(resumed.status.step, 'done');
    t.regex(
      resumed.status.message,
      new RegExp(
        `from its cloud image \\(download resumed: ${keptBytes} bytes kept from an earlier attempt, ${image.length - keptBytes} bytes downloaded now; SHA-256 ${before.imageSha256} checked\\); ${vsn} now has 2 verified copies$`,
      ),
    );
    t.is(sha256(await fs.readFile(target)), before.imageSha256, 'the resumed download is the image');
    t.deepEqual(await fs.readdir(path.dirname(target)), [`${vsn}.iso`]);
    const after = lookAtVolume(agent, vsn);
    t.deepEqual([...after.verified.keys()], [1, 2]);
    t.is(after.state, 'mirrored');
    t.is(await discSha256(after.verified.get(2)!, after.imageBytes), before.imageSha256);
    const payload = await readCopy(t, after.verified.get(2)!);
    for (const [p, data] of files) t.true(payload.get(p)?.equals(data), `${p} reads back identical from copy 2`);
  },
);

rgwTest(
  `an agent killed in the middle of a download resumes it after the restart, fetching only the chunks it had not recorded${skipped}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { token } = await gw.issue('lab-1');
    await gw.start();
    const chunkBytes = 64 * 1024;
    const agent = await reburnAgent(t, gw, token, { chunkBytes, downloadConcurrency: 1 });
    const { vsn, files } = await burnOneVolume(t, agent, 1, {
      media: 'test-32m',
      sizes: { 'big/one.bin': 14 * 1024 * 1024, 'big/two.bin': 12 * 1024 * 1024 + 3, 'small.txt': 9 },
    });
    await waitFor(`${vsn} mirrored`, () => volumeStates(agent).get(vsn) === 'mirrored');
    const before = lookAtVolume(agent, vsn);
    const chunks = Math.ceil(before.imageBytes / chunkBytes);
    t.true(chunks > 400, `the image spans many chunks (${chunks})`);
    await fs.rm(path.join(agent.state, 'images', `${vsn}.iso`));
    const target = path.join(agent.state, 'images', 'copies', `${vsn}.iso`);

    const started = await agent.cli('reburn', vsn, '--json');
    t.is(started.code, 0, started.stderr);
    const job = JSON.parse(started.stdout).job as string;
    // the agent is killed once its chunk record shows the download well under way
    const readRecord = () => readChunkRecord(chunkRecordPath(target));
    for (;;) {
      const r = await readRecord();
      if (r && r.done.length >= 16) break;
      const finished = await fs.stat(target).catch(() => null);
      if (finished) return t.fail('the download finished before the agent could be killed in it');
      await sleep(5);
    }
    agent.child().kill('SIGKILL');
    await new Promise((r) => agent.child().once('exit', r));
    const left = await readRecord();
    if (!left) return t.fail('the chunk record is gone');
    t.true(left.done.length >= 16 && left.done.length < chunks, `${left.done.length} of ${chunks} chunks recorded`);
    t.log(`killed with ${left.done.length} of ${chunks} chunks of ${chunkBytes} bytes recorded`);
    t.false(
      await fs.stat(target).then(
        () => true,
        () => false,
      ),
      'no image yet',
    );
    const keptBytes = left.done.reduce((s, n) => s + Math.min(chunkBytes, before.imageBytes - n * chunkBytes), 0);

    await agent.restart();
    const resumed = await jobStatus(agent, job, true);
    t.is(resumed.code, 0, resumed.stderr);
    t.regex(
      resumed.status.message,
      new RegExp(
        `from its cloud image \\(download resumed: ${keptBytes} bytes kept from an earlier attempt, ${before.imageBytes - keptBytes} bytes downloaded now; SHA-256 ${before.imageSha256} checked\\)`,
      ),
    );
    t.is(sha256(await fs.readFile(target)), before.imageSha256, 'the resumed download is the image');
    const after = lookAtVolume(agent, vsn);
    t.deepEqual([...after.verified.keys()], [1, 2]);
    t.is(await discSha256(after.verified.get(2)!, after.imageBytes), before.imageSha256);
    const payload = await readCopy(t, after.verified.get(2)!);
    for (const [p, data] of files) t.true(payload.get(p)?.equals(data), `${p} reads back identical from copy 2`);
  },
);
