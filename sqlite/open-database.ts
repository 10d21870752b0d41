/**
 * Opening one of the project's SQLite files (the agent's catalog, the
 * gateway's store, the embedded search index): durable settings and the
 * schema brought up to date.
 *
 * Every file is opened in WAL mode with `synchronous = FULL` (a commit that
 * returned survives a power cut) and foreign keys on. Its schema is a list of
 * numbered migrations, `user_version` counting how many were applied. They are
 * applied inside one IMMEDIATE transaction that reads the version only once it
 * holds the write lock, so two processes opening a new file at the same moment
 * cannot both apply the same migration; a file newer than the code is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface OpenDatabaseOptions {
  /** What the file is, for error messages ("catalog", "gateway store"). */
  what: string;
  migrations: readonly string[];
  /** File mode to set (e.g. 0o600 for a file nobody else needs to read). */
  mode?: number;
}

export function openDatabase(file: string, options: OpenDatabaseOptions): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: 10_000 });
  try {
    if (options.mode !== undefined) fs.chmodSync(file, options.mode);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, file, options);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: Database.Database, file: string, { what, migrations }: OpenDatabaseOptions): void {
  db.transaction(() => {
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > migrations.length) {
      throw new Error(
        `${what} ${file} has schema version ${version}, newer than this program knows (${migrations.length})`,
      );
    }
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]!);
    if (version < migrations.length) db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}
