import { hkdfSync, randomBytes } from 'node:crypto';
import { BkError } from '../core/errors.ts';
import type { OperatorTx, TenantTx } from '../db/scope.ts';
import { DatabaseKeyStore } from './key-store/database-key-store.ts';
import type { KeyStore } from './key-store/key-store.ts';
import {
  type OpenedValue,
  SALT_BYTES,
  open,
  openSealed,
  seal,
  sealedKeyVersion,
} from './envelope.ts';

/** A data key as stored: its version and the key wrapped (by the tenant's KEK, or a master key). */
export interface WrappedDataKey {
  version: number;
  wrappedKey: Uint8Array;
}

/** A value sealed with a salt inside (format 3), and that salt, for the audit chain's commitment. */
export interface SaltedSeal {
  sealed: Buffer;
  salt: Buffer;
}

/**
 * Every data key version of one tenant, read in one query (with the tenant's KEK, when any of
 * them needs it) and unwrapped on first use. Sealing uses the newest; opening uses the version the
 * sealed value names.
 */
export class TenantDataKeys {
  readonly tenantId: string;
  readonly newest: number;
  /** Some of these keys are wrapped by a KEK the key store no longer has (the tenant was deleted). */
  readonly kekDestroyed: boolean;
  readonly #wrapped: ReadonlyMap<number, Uint8Array>;
  readonly #unwrap: (version: number, wrapped: Uint8Array) => Buffer;
  readonly #unwrapped = new Map<number, Buffer>();

  constructor(
    tenantId: string,
    wrapped: ReadonlyMap<number, Uint8Array>,
    unwrap: (version: number, wrapped: Uint8Array) => Buffer,
    kekDestroyed = false,
  ) {
    if (wrapped.size === 0) throw new Error(`tenant ${tenantId} has no data key`);
    this.tenantId = tenantId;
    this.kekDestroyed = kekDestroyed;
    this.newest = Math.max(...wrapped.keys());
    this.#wrapped = wrapped;
    this.#unwrap = unwrap;
  }

  get versions(): number[] {
    return [...this.#wrapped.keys()].sort((x, y) => x - y);
  }

  key(version: number): Buffer {
    let key = this.#unwrapped.get(version);
    if (key !== undefined) return key;
    const wrapped = this.#wrapped.get(version);
    if (wrapped === undefined) {
      throw new Error(
        `data key version ${version} of ${this.tenantId} does not exist (retired, or never made)`,
      );
    }
    key = this.#unwrap(version, wrapped);
    this.#unwrapped.set(version, key);
    return key;
  }
}

/**
 * How a data key is wrapped, read from its envelope header (format 2, authenticated): key version
 * 0 is a master key (every data key made before KEKs existed: "legacy"), 1 the tenant's KEK.
 */
const BY_KEK = 1;

export function wrappedByKek(wrapped: Uint8Array): boolean {
  return wrapped.length > 5 && wrapped[0] === 2 && Buffer.from(wrapped).readUInt32BE(1) === BY_KEK;
}

const kekAad = (tenantId: string) => `tenant-kek:${tenantId}`;
const legacyDataKeyAad = (tenantId: string) => `tenant-data-key:${tenantId}`;
/** Binds a KEK-wrapped data key to its tenant and its version: copied to another row, it fails. */
const dataKeyAad = (tenantId: string, version: number) =>
  `tenant-data-key:${tenantId}:v${version}:kek`;

export function kekDestroyed(tenantId: string): BkError {
  return new BkError(
    'BK_TENANT_KEY_DESTROYED',
    `The encryption key of workspace ${tenantId} has been destroyed (the workspace was deleted): its encrypted data can no longer be opened.`,
  );
}

export interface KeyringOptions {
  /** Where the tenants' KEKs live; default: read through the caller's transactions only. */
  store?: KeyStore;
  /** How long a node keeps an unwrapped KEK in memory (default 10 minutes). */
  kekCacheTtlMs?: number;
  now?: () => number;
}

const KEK_CACHE_TTL_MS = 10 * 60_000;
const KEK_CACHE_MAX = 100_000;

/**
 * Envelope encryption in three levels: the master key wraps each tenant's key-encryption key
 * (KEK), kept in a key store apart from the tenant databases; the KEK wraps the tenant's data keys
 * (`tenant_data_keys`, one per version); the newest data key seals tenant content (provider keys,
 * thread messages, approvals, audit payloads), each sealed value naming its version. Destroying the
 * KEK (deleting the tenant) makes every copy of its data keys — backups included — unreadable, as
 * long as no backup of the key store outlives the promise.
 *
 * Data keys wrapped by the master key directly (made before KEKs) are still read; master-key
 * rotation moves them under the tenant's KEK. Unwrapped KEKs are cached per node, so the hot paths
 * (audit appends, provider keys) read the key store once per tenant per `kekCacheTtlMs`.
 */
export class TenantKeyring {
  readonly #masterKey: Buffer;
  /** Keys being rotated away from: still read, never written. */
  readonly #previousKeys: Buffer[];
  readonly store: KeyStore;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #keks = new Map<string, { kek: Buffer; until: number }>();

  constructor(
    masterKey: Uint8Array,
    previousKeys: readonly Uint8Array[] = [],
    options: KeyringOptions = {},
  ) {
    for (const key of [masterKey, ...previousKeys]) {
      if (key.length !== 32) throw new Error('master keys must be 32 bytes');
    }
    this.#masterKey = Buffer.from(masterKey);
    this.#previousKeys = previousKeys.map((k) => Buffer.from(k));
    this.store = options.store ?? DatabaseKeyStore.readingThroughTransactions();
    this.#ttlMs = options.kekCacheTtlMs ?? KEK_CACHE_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** AES-GCM authenticates: a wrong master key fails, so each candidate is simply tried. */
  #openWithMaster(
    wrapped: Uint8Array,
    aad: string,
    what: string,
  ): { key: Buffer; current: boolean } {
    try {
      return { key: open(this.#masterKey, wrapped, aad), current: true };
    } catch (err) {
      for (const previous of this.#previousKeys) {
        try {
          return { key: open(previous, wrapped, aad), current: false };
        } catch {
          // not this one either
        }
      }
      throw new Error(`no configured master key opens ${what}`, { cause: err });
    }
  }

  #remember(tenantId: string, kek: Buffer): Buffer {
    if (this.#keks.size >= KEK_CACHE_MAX) {
      const oldest = this.#keks.keys().next();
      if (oldest.done !== true) this.#keks.delete(oldest.value);
    }
    this.#keks.set(tenantId, { kek, until: this.#now() + this.#ttlMs });
    return kek;
  }

  #cachedKek(tenantId: string): Buffer | undefined {
    const cached = this.#keks.get(tenantId);
    if (cached === undefined) return undefined;
    if (cached.until > this.#now()) return cached.kek;
    this.#keks.delete(tenantId);
    return undefined;
  }

  /** The tenant's KEK: from memory, else from the key store (through `tx` when one is held). */
  async #kek(tenantId: string, tx: TenantTx | OperatorTx | null): Promise<Buffer> {
    const cached = this.#cachedKek(tenantId);
    if (cached !== undefined) return cached;
    const wrapped = await this.store.read(tenantId, tx ?? undefined);
    if (wrapped === null) throw kekDestroyed(tenantId);
    const { key } = this.#openWithMaster(wrapped, kekAad(tenantId), `the KEK of ${tenantId}`);
    return this.#remember(tenantId, key);
  }

  /**
   * Makes the tenant's KEK if it has none (tenant creation, before its transaction; master-key
   * rotation, for tenants that predate KEKs). Outside any transaction. A KEK left behind by a
   * creation that failed afterwards belongs to a tenant id that never came to exist: it opens
   * nothing, and is harmless.
   */
  async ensureKek(tenantId: string): Promise<{ created: boolean }> {
    if (this.#cachedKek(tenantId) !== undefined) return { created: false };
    const existing = await this.store.read(tenantId);
    if (existing !== null) {
      const { key } = this.#openWithMaster(existing, kekAad(tenantId), `the KEK of ${tenantId}`);
      this.#remember(tenantId, key);
      return { created: false };
    }
    const kek = randomBytes(32);
    const wrapped = seal(this.#masterKey, kek, kekAad(tenantId), { keyVersion: 0 });
    const kept = await this.store.create(tenantId, wrapped);
    const { key } = this.#openWithMaster(kept, kekAad(tenantId), `the KEK of ${tenantId}`);
    this.#remember(tenantId, key);
    return { created: Buffer.from(kept).equals(wrapped) };
  }

  /**
   * Destroys the tenant's KEK in the key store (after its deletion committed), and forgets it
   * here. Other nodes drop their copy within `kekCacheTtlMs`. False if there was none.
   */
  async destroyKek(tenantId: string): Promise<boolean> {
    this.#keks.delete(tenantId);
    const destroyed = await this.store.destroy(tenantId);
    this.#keks.delete(tenantId);
    return destroyed;
  }

  #wrapDataKey(kek: Buffer, tenantId: string, version: number, dataKey: Uint8Array): Buffer {
    return seal(kek, dataKey, dataKeyAad(tenantId, version), { keyVersion: BY_KEK });
  }

  /** Opens a wrapped data key of either form, given the KEK when the form needs one. */
  #openDataKey(tenantId: string, version: number, wrapped: Uint8Array, kek: Buffer | null): Buffer {
    if (!wrappedByKek(wrapped)) {
      return this.#openWithMaster(
        wrapped,
        legacyDataKeyAad(tenantId),
        `the data key of ${tenantId}`,
      ).key;
    }
    if (kek === null) throw kekDestroyed(tenantId);
    return open(kek, wrapped, dataKeyAad(tenantId, version));
  }

  async #unwrapDataKey(
    tx: TenantTx | OperatorTx | null,
    tenantId: string,
    version: number,
    wrapped: Uint8Array,
  ): Promise<Buffer> {
    const kek = wrappedByKek(wrapped) ? await this.#kek(tenantId, tx) : null;
    return this.#openDataKey(tenantId, version, wrapped, kek);
  }

  /** The first data key of a new tenant, wrapped by its KEK (`ensureKek` made that, before). */
  async createDataKey(tx: OperatorTx, tenantId: string): Promise<void> {
    const kek = await this.#kek(tenantId, tx);
    await tx
      .insertInto('tenant_data_keys')
      .values({
        tenant_id: tenantId,
        key_version: 1,
        wrapped_key: this.#wrapDataKey(kek, tenantId, 1, randomBytes(32)),
      })
      .execute();
  }

  /**
   * Adds the tenant's next data key version; new values are sealed with it as soon as this commits.
   * The tenant's key rows are locked first, so two rotations at once make two versions, in turn.
   */
  async addDataKeyVersion(tx: OperatorTx, tenantId: string): Promise<number> {
    const rows = await tx
      .selectFrom('tenant_data_keys')
      .select('key_version')
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .execute();
    if (rows.length === 0) throw new Error(`tenant ${tenantId} has no data key`);
    const version = Math.max(...rows.map((r) => r.key_version)) + 1;
    const kek = await this.#kek(tenantId, tx);
    await tx
      .insertInto('tenant_data_keys')
      .values({
        tenant_id: tenantId,
        key_version: version,
        wrapped_key: this.#wrapDataKey(kek, tenantId, version, randomBytes(32)),
      })
      .execute();
    return version;
  }

  /** Destroys one old data key version: what is still sealed under it no longer opens. */
  async retireDataKeyVersion(tx: OperatorTx, tenantId: string, version: number): Promise<boolean> {
    const newest = await this.#newestWrappedKey(tx, tenantId);
    if (version >= newest.version) throw new Error('the newest data key is never retired');
    const deleted = await tx
      .deleteFrom('tenant_data_keys')
      .where('tenant_id', '=', tenantId)
      .where('key_version', '=', version)
      .executeTakeFirst();
    return deleted.numDeletedRows > 0n;
  }

  /**
   * Every data key version of the tenant, in one query, and its KEK if any of them needs it. A
   * destroyed KEK does not fail this: each key it wrapped fails when used (`tryOpen` gives null).
   */
  async dataKeys(tx: TenantTx | OperatorTx, tenantId: string): Promise<TenantDataKeys> {
    const rows = await tx
      .selectFrom('tenant_data_keys')
      .select(['key_version', 'wrapped_key'])
      .where('tenant_id', '=', tenantId)
      .execute();
    let kek: Buffer | null = null;
    let destroyed = false;
    if (rows.some((r) => wrappedByKek(r.wrapped_key))) {
      try {
        kek = await this.#kek(tenantId, tx);
      } catch (err) {
        if (!(err instanceof BkError && err.code === 'BK_TENANT_KEY_DESTROYED')) throw err;
        destroyed = true;
      }
    }
    return new TenantDataKeys(
      tenantId,
      new Map(rows.map((r) => [r.key_version, r.wrapped_key])),
      (version, wrapped) => this.#openDataKey(tenantId, version, wrapped, kek),
      destroyed,
    );
  }

  async #newestWrappedKey(tx: TenantTx | OperatorTx, tenantId: string): Promise<WrappedDataKey> {
    const row = await tx
      .selectFrom('tenant_data_keys')
      .select(['key_version', 'wrapped_key'])
      .where('tenant_id', '=', tenantId)
      .orderBy('key_version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) throw new Error(`tenant ${tenantId} has no data key`);
    return { version: row.key_version, wrappedKey: row.wrapped_key };
  }

  /** The key of the version a sealed value names, in one query for just that version. */
  async #keyFor(tx: TenantTx | OperatorTx, tenantId: string, sealed: Uint8Array): Promise<Buffer> {
    const version = sealedKeyVersion(sealed);
    const row = await tx
      .selectFrom('tenant_data_keys')
      .select('wrapped_key')
      .where('tenant_id', '=', tenantId)
      .where('key_version', '=', version)
      .executeTakeFirst();
    if (row === undefined) {
      throw new Error(`data key version ${version} of ${tenantId} does not exist (retired)`);
    }
    return this.#unwrapDataKey(tx, tenantId, version, row.wrapped_key);
  }

  /**
   * Master-key rotation, for the data keys of one database: one page after (tenant, version).
   * Data keys under a KEK need nothing (their KEK is re-wrapped in the key store, `rewrapKekPage`);
   * a legacy one, wrapped by a master key, is moved under its tenant's KEK — which `ensureKek`
   * made before, outside this transaction. The data keys themselves do not change, so nothing
   * sealed with them needs re-encrypting.
   */
  async rewrapPage(
    tx: OperatorTx,
    after: { tenantId: string; version: number } | null,
    limit: number,
  ): Promise<{
    movedUnderKek: number;
    underKek: number;
    last: { tenantId: string; version: number } | null;
  }> {
    let query = tx
      .selectFrom('tenant_data_keys')
      .select(['tenant_id', 'key_version', 'wrapped_key'])
      .orderBy('tenant_id')
      .orderBy('key_version')
      .limit(limit);
    if (after !== null) {
      query = query.where((eb) =>
        eb.or([
          eb('tenant_id', '>', after.tenantId),
          eb.and([eb('tenant_id', '=', after.tenantId), eb('key_version', '>', after.version)]),
        ]),
      );
    }
    const rows = await query.execute();
    let moved = 0;
    for (const row of rows) {
      if (wrappedByKek(row.wrapped_key)) continue;
      const dataKey = this.#openDataKey(row.tenant_id, row.key_version, row.wrapped_key, null);
      const kek = await this.#kek(row.tenant_id, tx);
      await tx
        .updateTable('tenant_data_keys')
        .set({ wrapped_key: this.#wrapDataKey(kek, row.tenant_id, row.key_version, dataKey) })
        .where('tenant_id', '=', row.tenant_id)
        .where('key_version', '=', row.key_version)
        .execute();
      moved++;
    }
    const lastRow = rows.at(-1);
    return {
      movedUnderKek: moved,
      underKek: rows.length - moved,
      last:
        lastRow === undefined
          ? null
          : { tenantId: lastRow.tenant_id, version: lastRow.key_version },
    };
  }

  /**
   * Master-key rotation, in the key store: one page of KEKs after `after`, each wrapped anew with
   * the current master key if a previous one wraps it. A KEK no configured master key opens is
   * counted, not touched.
   */
  async rewrapKekPage(
    after: string | null,
    limit: number,
  ): Promise<{ rewrapped: number; current: number; unreadable: number; last: string | null }> {
    const page = await this.store.list(after, limit);
    let rewrapped = 0;
    let current = 0;
    let unreadable = 0;
    for (const { tenantId, wrappedKek } of page) {
      let opened: { key: Buffer; current: boolean };
      try {
        opened = this.#openWithMaster(wrappedKek, kekAad(tenantId), `the KEK of ${tenantId}`);
      } catch {
        unreadable++;
        continue;
      }
      if (opened.current) {
        current++;
        continue;
      }
      await this.store.replace(
        tenantId,
        seal(this.#masterKey, opened.key, kekAad(tenantId), { keyVersion: 0 }),
      );
      rewrapped++;
    }
    return { rewrapped, current, unreadable, last: page.at(-1)?.tenantId ?? null };
  }

  /**
   * A secret of the tenant's own for one purpose (signing its webhooks), derived from its newest
   * data key with HKDF: nothing more to store, shredded with the tenant, and rotated with its key.
   */
  async deriveSecret(tx: TenantTx, tenantId: string, purpose: string): Promise<Buffer> {
    const newest = await this.#newestWrappedKey(tx, tenantId);
    const key = await this.#unwrapDataKey(tx, tenantId, newest.version, newest.wrappedKey);
    return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `${tenantId}:${purpose}`, 32));
  }

  async sealForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    plaintext: string,
  ): Promise<Buffer> {
    const [sealed] = await this.sealManyWithWrappedKey(
      tx,
      tenantId,
      await this.#newestWrappedKey(tx, tenantId),
      purpose,
      [plaintext],
    );
    return sealed!;
  }

  /** Seals several values with one read of the newest data key. */
  async sealManyForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    plaintexts: readonly (string | null)[],
  ): Promise<(Buffer | null)[]> {
    if (plaintexts.every((p) => p === null)) return plaintexts.map(() => null);
    return this.sealManyWithWrappedKey(
      tx,
      tenantId,
      await this.#newestWrappedKey(tx, tenantId),
      purpose,
      plaintexts,
    );
  }

  async openForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    sealed: Uint8Array,
  ): Promise<string> {
    const key = await this.#keyFor(tx, tenantId, sealed);
    return open(key, sealed, `${tenantId}:${purpose}`).toString('utf8');
  }

  /**
   * For callers that fetched a wrapped data key in the same query as the sealed value (the newest,
   * on hot paths). The key must be the version the value names. `tx`: the transaction the caller
   * still holds, or null (the KEK, unless cached, is read through it or on a connection of its own).
   */
  async openWithWrappedKey(
    tx: TenantTx | OperatorTx | null,
    tenantId: string,
    key: WrappedDataKey,
    purpose: string,
    sealed: Uint8Array,
  ): Promise<string> {
    const version = sealedKeyVersion(sealed);
    if (version !== key.version) {
      throw new Error(`value sealed under data key version ${version}, given ${key.version}`);
    }
    const dataKey = await this.#unwrapDataKey(tx, tenantId, key.version, key.wrappedKey);
    return open(dataKey, sealed, `${tenantId}:${purpose}`).toString('utf8');
  }

  /**
   * Opens several values with one read of the tenant's data keys, each with the version it names.
   * A value that does not open (altered, or sealed under a key since retired) comes back as null
   * instead of failing the others. A salt sealed with a value is stripped. If the tenant's KEK is
   * destroyed (a deleted tenant's rows restored from a backup), BK_TENANT_KEY_DESTROYED.
   */
  async openManyForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    sealed: readonly (Uint8Array | null)[],
  ): Promise<(string | null)[]> {
    const opened = await this.openValuesForTenant(tx, tenantId, purpose, sealed);
    return opened.map((o) => (o === null ? null : o.plaintext.toString('utf8')));
  }

  /** As `openManyForTenant`, with each value's salt and key version (to check a commitment). */
  async openValuesForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    sealed: readonly (Uint8Array | null)[],
  ): Promise<(OpenedValue | null)[]> {
    if (sealed.every((s) => s === null)) return sealed.map(() => null);
    const keys = await this.dataKeys(tx, tenantId);
    // Not one value "altered" among others: the tenant's keys are gone, so say that.
    if (keys.kekDestroyed) throw kekDestroyed(tenantId);
    return sealed.map((s) => (s === null ? null : this.tryOpen(keys, purpose, s)));
  }

  /** Opens one value with the tenant's keys already read; null if it does not open. */
  tryOpen(keys: TenantDataKeys, purpose: string, sealed: Uint8Array): OpenedValue | null {
    try {
      return openSealed(keys.key(sealedKeyVersion(sealed)), sealed, `${keys.tenantId}:${purpose}`);
    } catch {
      return null;
    }
  }

  /**
   * Re-encrypts an opened value under the tenant's newest key, keeping its salt (the audit chain
   * commits to salt and content, so both must survive re-encryption unchanged).
   */
  resealOpened(keys: TenantDataKeys, purpose: string, opened: OpenedValue): Buffer {
    return seal(keys.key(keys.newest), opened.plaintext, `${keys.tenantId}:${purpose}`, {
      keyVersion: keys.newest,
      ...(opened.salt !== null && { salt: opened.salt }),
    });
  }

  /** For callers that read the wrapped data key themselves, in a query they make anyway. */
  async sealManyWithWrappedKey(
    tx: TenantTx | OperatorTx | null,
    tenantId: string,
    key: WrappedDataKey,
    purpose: string,
    plaintexts: readonly (string | null)[],
  ): Promise<(Buffer | null)[]> {
    if (plaintexts.every((p) => p === null)) return plaintexts.map(() => null);
    const dataKey = await this.#unwrapDataKey(tx, tenantId, key.version, key.wrappedKey);
    return plaintexts.map((p) =>
      p === null
        ? null
        : seal(dataKey, Buffer.from(p, 'utf8'), `${tenantId}:${purpose}`, {
            keyVersion: key.version,
          }),
    );
  }

  /**
   * As `sealManyWithWrappedKey`, each value with a fresh random salt sealed inside it, returned so
   * the caller can commit to SHA-256(salt ‖ plaintext) (the audit chain does).
   */
  async sealSaltedManyWithWrappedKey(
    tx: TenantTx | OperatorTx | null,
    tenantId: string,
    key: WrappedDataKey,
    purpose: string,
    plaintexts: readonly (string | null)[],
  ): Promise<(SaltedSeal | null)[]> {
    if (plaintexts.every((p) => p === null)) return plaintexts.map(() => null);
    const dataKey = await this.#unwrapDataKey(tx, tenantId, key.version, key.wrappedKey);
    return plaintexts.map((p) => {
      if (p === null) return null;
      const salt = randomBytes(SALT_BYTES);
      const sealed = seal(dataKey, Buffer.from(p, 'utf8'), `${tenantId}:${purpose}`, {
        keyVersion: key.version,
        salt,
      });
      return { sealed, salt };
    });
  }
}
