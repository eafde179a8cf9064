import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkKekTenantId, type KeyStore, type StoredKek } from './key-store.ts';

const SUFFIX = '.kek';

/** Makes a rename, link or unlink in `dir` durable: the directory entry itself is fsynced. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * KEKs as files in one directory, one per tenant (`<tenant id>.kek`, mode 0600): the embedded
 * default, `<BULKHEAD_DATA_DIR>/keys`, beside `pgdata/` and never inside it, so a copy of the
 * database directory is not a copy of the keys. For one node only (nodes do not share it).
 *
 * Every write goes to a temporary file that is fsynced, then put in place (rename to replace,
 * link to create without replacing), then the directory is fsynced: a crash leaves the old file or
 * the new one, never half of one. Destroying unlinks the file and fsyncs the directory.
 */
export class FileKeyStore implements KeyStore {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly #dir: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.location = `file://${dir}`;
  }

  static async open(dir: string): Promise<FileKeyStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileKeyStore(dir);
  }

  #path(tenantId: string): string {
    checkKekTenantId(tenantId);
    return join(this.#dir, `${tenantId}${SUFFIX}`);
  }

  async #writeTemp(wrappedKek: Uint8Array): Promise<string> {
    const temp = join(this.#dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(wrappedKek);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return temp;
  }

  async read(tenantId: string): Promise<Uint8Array | null> {
    try {
      return await readFile(this.#path(tenantId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async create(tenantId: string, wrappedKek: Uint8Array): Promise<Uint8Array> {
    const path = this.#path(tenantId);
    const temp = await this.#writeTemp(wrappedKek);
    try {
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await unlink(temp);
      return readFile(path);
    }
    await unlink(temp);
    await syncDir(this.#dir);
    return wrappedKek;
  }

  async replace(tenantId: string, wrappedKek: Uint8Array): Promise<void> {
    const path = this.#path(tenantId);
    const temp = await this.#writeTemp(wrappedKek);
    await rename(temp, path);
    await syncDir(this.#dir);
  }

  async destroy(tenantId: string): Promise<boolean> {
    try {
      await unlink(this.#path(tenantId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await syncDir(this.#dir);
    return true;
  }

  async list(after: string | null, limit: number): Promise<StoredKek[]> {
    const ids = (await readdir(this.#dir))
      .filter((name) => name.endsWith(SUFFIX))
      .map((name) => name.slice(0, -SUFFIX.length))
      .filter((id) => after === null || id > after)
      .sort()
      .slice(0, limit);
    const page: StoredKek[] = [];
    for (const tenantId of ids) {
      const wrappedKek = await this.read(tenantId);
      if (wrappedKek !== null) page.push({ tenantId, wrappedKek });
    }
    return page;
  }

  async close(): Promise<void> {}
}
