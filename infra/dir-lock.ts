/**
 * A lock file that serialises callers across processes: the file holds its
 * holder's pid, is made with O_EXCL, and a lock whose holder has died is taken
 * over. infra/rgw and infra/postgres take one per service directory, so test
 * processes starting a service at once share one instance.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` holding the lock file `file`; waits up to `timeoutMs` for another holder. */
export async function withDirLock<T>(
  file: string,
  fn: () => Promise<T>,
  o: { timeoutMs: number; pollMs: number },
): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = 0;
      try {
        holder = Number(readFileSync(file, 'utf8').trim() || '0');
      } catch {
        continue; // released meanwhile
      }
      let alive = true; // 0: the holder is still writing its pid
      if (holder > 0) {
        try {
          process.kill(holder, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) rmSync(file, { force: true });
      else if (Date.now() > deadline) throw new Error(`${file} is held by pid ${holder}`);
      else await sleep(o.pollMs);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
