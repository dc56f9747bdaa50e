/**
 * A `file://` destination: objects are files under a directory (a local disk,
 * or a mounted network file system). A write goes to a temporary file, is
 * fsynced and renamed into place (then the directory is fsynced), so a reader
 * sees the old object, none, or the whole new one, and a crash leaves no half
 * object under a real name. Conditional manifest writes hold a lock directory
 * (mkdir is atomic) while they compare the current content's digest; a lock
 * older than LOCK_STALE_MS was left by a writer that died holding it (a leader
 * SIGKILLed mid-write) and is broken, so its successor waits seconds, not more.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { destinationError } from './destination.js';
import type { Destination } from './destination.js';
import { sha256Hex } from './format.js';

/** The lock is held for one read, write and rename (milliseconds): one this old was left by a writer that died holding it. */
const LOCK_STALE_MS = 5_000;

export class FileDestination implements Destination {
  constructor(
    private readonly root: string,
    readonly url: string,
  ) {}

  private path(key: string): string {
    const path = join(this.root, key);
    if (path !== this.root && !path.startsWith(this.root + sep)) throw new Error(`key ${key} leaves the destination`);
    return path;
  }

  private temp(path: string): string {
    return `${path}.tmp-${randomBytes(6).toString('hex')}`;
  }

  private async syncDir(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    try {
      await this.writeAtomically(this.path(key), body);
    } catch (error) {
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  private async writeAtomically(path: string, body: Uint8Array | string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const temp = this.temp(path);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await this.syncDir(dirname(path));
  }

  async putFile(key: string, source: string): Promise<void> {
    const path = this.path(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      const temp = this.temp(path);
      await pipeline(createReadStream(source), createWriteStream(temp));
      const handle = await open(temp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      await this.syncDir(dirname(path));
    } catch (error) {
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw destinationError(this.url, `reading ${key}`, error);
    }
  }

  async getStream(key: string): Promise<{ stream: Readable; bytes: number | undefined } | undefined> {
    const path = this.path(key);
    try {
      const info = await stat(path);
      return { stream: createReadStream(path), bytes: info.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw destinationError(this.url, `reading ${key}`, error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    try {
      for (const key of keys) await rm(this.path(key), { force: true });
    } catch (error) {
      throw destinationError(this.url, 'deleting', error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const name of names) {
        const path = join(dir, name);
        if ((await stat(path)).isDirectory()) await walk(path);
        else {
          const key = relative(this.root, path).split(sep).join('/');
          if (key.startsWith(prefix) && !name.includes('.tmp-')) out.push(key);
        }
      }
    };
    try {
      await walk(this.root);
    } catch (error) {
      throw destinationError(this.url, 'listing', error);
    }
    return out.sort();
  }

  async getVersioned(key: string): Promise<{ body: Buffer; version: string } | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : { body, version: sha256Hex(body) };
  }

  async putIfVersion(key: string, body: string, version: string | null): Promise<string | 'conflict'> {
    const path = this.path(key);
    const lock = `${path}.lock`;
    try {
      await mkdir(dirname(path), { recursive: true });
      await this.acquire(lock);
      try {
        let current: Buffer | undefined;
        try {
          current = await readFile(path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
        const currentVersion = current === undefined ? null : sha256Hex(current);
        if (currentVersion !== version) return 'conflict';
        await this.writeAtomically(path, body);
        return sha256Hex(body);
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    } catch (error) {
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  private async acquire(lock: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(lock);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const info = await stat(lock).catch(() => undefined);
        if (info !== undefined && Date.now() - info.mtimeMs > LOCK_STALE_MS) await rm(lock, { recursive: true, force: true });
        if (attempt > 400) throw new Error(`${lock} is held by another writer`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  close(): void {}
}
