/**
 * Filtered vector search at scale, on the embedded database (PGlite in-process, with pgvector):
 * many tenants of very different sizes in one `chunks` table and one HNSW index per dimension,
 * searched through src/knowledge/search.ts's `vectorSearch` inside a tenant-scoped transaction
 * set up like `withTenant` (row-level security applies). For a sample of tenants across the size
 * range it measures recall@10 against exact search (brute-force cosine in JavaScript over the
 * tenant's own vectors) and the latency of the search transaction, per size class — both on the
 * path production chooses (exact below EXACT_SEARCH_MAX_CHUNKS chunks, HNSW with iterative scan
 * above) and with each path forced, to show what the threshold buys.
 *
 *   nice -n 10 node --import tsx bench/filtered-search.ts [--chunks 200000] [--tenants 1000]
 *     [--zipf 1.1] [--queries 20] [--forced-queries 3] [--forced-tenants 5] [--ef-search 200,400]
 *     [--index rebuild|keep] [--maintenance-work-mem 1GB] [--seed 7]
 *     [--results bench/RESULTS.md] [--no-results]
 *
 * Searches run twice: as loaded (no column statistics: the embedded database has no autovacuum, so
 * production tables there are never analysed) and after ANALYZE (as on a PostgreSQL server).
 *
 * Data: tenant sizes follow Zipf's law (size ∝ rank^-s, every tenant at least one chunk); each
 * tenant has one collection, documents of 1–20 chunks, and its documents are about a few of a few
 * hundred topics shared by all tenants. An embedding is a topic centre plus noise (document), plus
 * less noise (chunk), normalised: clustered like real embeddings, deterministic from the seed.
 * Rows are written directly as the schema owner in multi-row INSERTs; with `--index rebuild`
 * (the default) the HNSW index of the dimension is dropped before the load and recreated from its
 * own definition (`pg_get_indexdef`, i.e. exactly as the migration made it) afterwards.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CompiledQuery, sql } from 'kysely';
import { countChunks } from '../src/knowledge/repository.ts';
import { EXACT_SEARCH_MAX_CHUNKS, type SearchHit, vectorSearch } from '../src/knowledge/search.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/test-database.ts';
import { percentile } from './support/load.ts';
import { writeResultsSection } from './support/results-file.ts';
import { gitDescription, machineDescription, seconds } from './support/run-info.ts';
import { deriveSeed, SeededRandom } from './support/seeded-random.ts';
import { inTenantScope, type RecordedQuery } from './support/tenant-scope.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const HEADING = 'Filtered vector search at scale (embedded database)';
const TOP_K = 10;
/** A returned chunk counts as a true neighbour if it is no farther than the k-th true one + this. */
const TIE_TOLERANCE = 1e-5;

// ---------------------------------------------------------------------------------------------
// Options

const cliArgs = process.argv.slice(2);
const { values: flags } = parseArgs({
  args: cliArgs,
  options: {
    chunks: { type: 'string', default: '200000' },
    tenants: { type: 'string', default: '1000' },
    zipf: { type: 'string', default: '1.1' },
    dims: { type: 'string', default: '384' },
    topics: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    queries: { type: 'string', default: '20' },
    'forced-queries': { type: 'string', default: '8' },
    'forced-tenants': { type: 'string', default: '5' },
    'probe-inserts': { type: 'string', default: '1000' },
    large: { type: 'string', default: '5' },
    medium: { type: 'string', default: '20' },
    small: { type: 'string', default: '50' },
    batch: { type: 'string', default: '500' },
    index: { type: 'string', default: 'rebuild' },
    'maintenance-work-mem': { type: 'string', default: '1GB' },
    'ef-search': { type: 'string', default: '200,400,800' },
    results: { type: 'string', default: join(benchDir, 'RESULTS.md') },
    'no-results': { type: 'boolean', default: false },
  },
});

function positiveInt(name: string, raw: string, allowZero = false): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return value;
}

const options = {
  chunks: positiveInt('chunks', flags.chunks),
  tenants: positiveInt('tenants', flags.tenants),
  zipf: Number(flags.zipf),
  dims: positiveInt('dims', flags.dims),
  topics: positiveInt('topics', flags.topics),
  seed: positiveInt('seed', flags.seed, true),
  queries: positiveInt('queries', flags.queries),
  forcedQueries: positiveInt('forced-queries', flags['forced-queries'], true),
  forcedTenants: positiveInt('forced-tenants', flags['forced-tenants'], true),
  probeInserts: positiveInt('probe-inserts', flags['probe-inserts'], true),
  large: positiveInt('large', flags.large, true),
  medium: positiveInt('medium', flags.medium, true),
  small: positiveInt('small', flags.small, true),
  batch: positiveInt('batch', flags.batch),
  index: flags.index,
  maintenanceWorkMem: flags['maintenance-work-mem'],
  efSearch: flags['ef-search']
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => positiveInt('ef-search', v.trim())),
  resultsFile: flags['no-results'] ? null : resolve(flags.results),
};
if (!(options.zipf > 0)) throw new Error('--zipf must be a positive number');
if (options.index !== 'rebuild' && options.index !== 'keep') {
  throw new Error('--index must be rebuild (drop the HNSW index, load, recreate) or keep');
}
if (options.chunks < options.tenants) throw new Error('--chunks must be at least --tenants');
if (!/^\d+\s*[kKMG]?B$/.test(options.maintenanceWorkMem)) {
  throw new Error('--maintenance-work-mem must look like 64MB or 1GB');
}

const log = (line = '') => process.stdout.write(`${line}\n`);

function packageVersion(name: string): string {
  const path = join(benchDir, '..', 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

// ---------------------------------------------------------------------------------------------
// Data

/** Chunks per tenant by rank: ∝ rank^-s, at least 1 each, summing to `total` exactly. */
function zipfSizes(total: number, tenants: number, s: number): number[] {
  const weights = Array.from({ length: tenants }, (_, i) => (i + 1) ** -s);
  const sum = weights.reduce((a, b) => a + b, 0);
  const spare = total - tenants; // one chunk each first; the rest shared by weight
  const raw = weights.map((w) => (spare * w) / sum);
  const sizes = raw.map((r) => 1 + Math.floor(r));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  const byFraction = raw
    .map((r, i) => ({ i, f: r - Math.floor(r) }))
    .sort((a, b) => b.f - a.f || a.i - b.i);
  for (const { i } of byFraction) {
    if (left === 0) break;
    sizes[i]! += 1;
    left -= 1;
  }
  return sizes;
}

const tenantId = (rank: number) => `tn_${String(rank).padStart(26, '0')}`;
const collectionId = (rank: number) => `col_${String(rank).padStart(4, '0')}`;
const chunkId = (global: number) => `ck_${String(global).padStart(9, '0')}`;

/** Documents have 1–20 chunks; a tenant's documents are about `topicCount(size)` topics. */
const topicCount = (size: number, topics: number) =>
  Math.min(topics, 3 + Math.floor(Math.sqrt(size) / 4));
const DOC_NOISE = 0.8; // |noise| relative to the unit topic centre: cos(doc, centre) ≈ 0.78
const CHUNK_NOISE = 0.5; // cos(chunk, its document) ≈ 0.89
const QUERY_NOISE = 0.6; // an on-topic query: near one of the tenant's documents, cos ≈ 0.86
/** Every n-th query is about any of the shared topics, which the tenant may have nothing on. */
const OFF_TOPIC_EVERY = 4;
const OFF_TOPIC_SHARE = 1 / OFF_TOPIC_EVERY;

function randomUnit(rng: SeededRandom, dims: number): Float64Array {
  const v = new Float64Array(dims);
  for (let i = 0; i < dims; i++) v[i] = rng.normal();
  return normalised(v);
}

function normalised(v: Float64Array): Float64Array {
  let sq = 0;
  for (const x of v) sq += x * x;
  const norm = Math.sqrt(sq);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}

/** `base` plus isotropic noise of expected length `scale`, normalised. */
function perturbed(rng: SeededRandom, base: Float64Array, scale: number): Float64Array {
  const v = new Float64Array(base.length);
  const sd = scale / Math.sqrt(base.length);
  for (let i = 0; i < base.length; i++) v[i] = base[i]! + sd * rng.normal();
  return normalised(v);
}

/**
 * Rounded to 5 decimals, as written to the database; `values` receives what the database stores
 * (pgvector parses the text into float4), so the exact search here sees the same numbers.
 */
function vectorText(v: Float64Array, values: Float32Array | null, offset: number): string {
  const parts = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) {
    const text = v[i]!.toFixed(5);
    parts[i] = text;
    if (values !== null) values[offset + i] = Number(text);
  }
  return `[${parts.join(',')}]`;
}

interface TenantData {
  rank: number;
  size: number;
  /** The first chunk's global number: chunk k of the tenant is `chunkId(firstChunk + k)`. */
  firstChunk: number;
  topics: number[];
  documents: number;
}

interface SampledTenant extends TenantData {
  sizeClass: SizeClass;
  /** What the database stores, `size × dims`. */
  vectors: Float32Array;
  /** One document vector per document, for on-topic queries. */
  documentVectors: Float64Array[];
}

type SizeClass = 'large' | 'medium' | 'small';

/** The 5 largest, `medium` evenly spread (log scale) over ranks 10–200, `small` over 300–last. */
function sampleRanks(tenants: number): Map<number, SizeClass> {
  const sample = new Map<number, SizeClass>();
  for (let r = 1; r <= Math.min(options.large, tenants); r++) sample.set(r, 'large');
  const spread = (from: number, to: number, n: number, log: boolean) => {
    const picked: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = n === 1 ? 0 : i / (n - 1);
      const x = log
        ? Math.exp(Math.log(from) + t * (Math.log(to) - Math.log(from)))
        : from + t * (to - from);
      picked.push(Math.round(x));
    }
    return picked;
  };
  const mediumFrom = Math.min(tenants, Math.max(options.large + 1, 10));
  const mediumTo = Math.min(tenants, Math.max(mediumFrom, Math.round(tenants / 5)));
  for (const r of spread(mediumFrom, mediumTo, options.medium, true))
    if (!sample.has(r)) sample.set(r, 'medium');
  const smallFrom = Math.min(tenants, Math.round((tenants * 3) / 10));
  for (const r of spread(smallFrom, tenants, options.small, false))
    if (!sample.has(r)) sample.set(r, 'small');
  return sample;
}

// ---------------------------------------------------------------------------------------------
// Load

interface LoadReport {
  generateMs: number;
  insertMs: number;
  indexMs: number;
  indexDefinition: string;
  databaseSize: string;
  tableSize: string;
  indexSize: string;
}

async function ownerScript(database: TestDatabase, text: string): Promise<void> {
  const session = await database.db.backend.acquire();
  try {
    await session.script(text);
  } finally {
    session.release();
  }
}

async function load(
  database: TestDatabase,
  sizes: number[],
  centres: Float64Array[],
  sample: Map<number, SizeClass>,
): Promise<{ report: LoadReport; sampled: SampledTenant[] }> {
  const q: TestDatabase['ownerQuery'] = (text, params) => database.ownerQuery(text, params);
  const indexName = `chunks_embedding_${options.dims}`;
  const [definition] = await q<{ def: string }>(
    `select pg_get_indexdef(indexrelid) as def from pg_index where indexrelid = $1::regclass`,
    [indexName],
  );
  if (definition === undefined)
    throw new Error(`no index ${indexName}: is ${options.dims} indexed?`);
  if (options.index === 'rebuild') await q(`drop index ${indexName}`);

  const tenantRows = sizes.map((_, i) => `('${tenantId(i + 1)}', 'bench tenant ${i + 1}')`);
  const collectionRows = sizes.map(
    (_, i) =>
      `('${tenantId(i + 1)}', '${collectionId(i + 1)}', 'docs', 'bench/clustered', ${options.dims}, 300, 50)`,
  );
  for (let i = 0; i < tenantRows.length; i += 1000) {
    await ownerScript(
      database,
      `insert into tenants (tenant_id, name) values ${tenantRows.slice(i, i + 1000).join(',')};
       insert into collections (tenant_id, collection_id, name, embedding_model, dimensions, chunk_tokens, chunk_overlap)
       values ${collectionRows.slice(i, i + 1000).join(',')};`,
    );
  }

  let generateMs = 0;
  let insertMs = 0;
  const session = await database.db.backend.acquire();
  const sampled: SampledTenant[] = [];
  try {
    let pending: string[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const started = performance.now();
      await session.script(
        `insert into chunks (tenant_id, chunk_id, collection_id, document_id, position, content,
           start_char, end_char, tokens, dims, embedding) values ${pending.join(',')}`,
      );
      insertMs += performance.now() - started;
      pending = [];
    };
    let global = 0;
    let lastReport = performance.now();
    for (let index = 0; index < sizes.length; index++) {
      const rank = index + 1;
      const size = sizes[index]!;
      const tid = tenantId(rank);
      const col = collectionId(rank);
      const genStarted = performance.now();
      const rng = new SeededRandom(deriveSeed(options.seed, 1, rank));
      const topics: number[] = [];
      const topicTotal = topicCount(size, options.topics);
      while (topics.length < topicTotal) {
        const t = rng.int(options.topics);
        if (!topics.includes(t)) topics.push(t);
      }
      const sizeClass = sample.get(rank);
      const vectors = sizeClass === undefined ? null : new Float32Array(size * options.dims);
      const documentVectors: Float64Array[] = [];
      const documentRows: string[] = [];
      const chunkRows: string[] = [];
      let k = 0;
      while (k < size) {
        const d = documentVectors.length;
        const inDocument = Math.min(size - k, 1 + rng.int(20));
        const documentVector = perturbed(rng, centres[topics[rng.int(topics.length)]!]!, DOC_NOISE);
        documentVectors.push(documentVector);
        const documentId = `doc_${rank}_${d}`;
        documentRows.push(
          `('${tid}', '${documentId}', '${col}', 'markdown', 'x', ${inDocument * 400}, ${inDocument}, 'bench')`,
        );
        for (let p = 0; p < inDocument; p++, k++) {
          const v = perturbed(rng, documentVector, CHUNK_NOISE);
          chunkRows.push(
            `('${tid}', '${chunkId(global + k)}', '${col}', '${documentId}', ${p}, 'passage ${p} of document ${d}', ${p * 400}, ${(p + 1) * 400}, 80, ${options.dims}, '${vectorText(v, vectors, k * options.dims)}')`,
          );
        }
      }
      generateMs += performance.now() - genStarted;
      const started = performance.now();
      for (let i = 0; i < documentRows.length; i += 1000) {
        await session.script(
          `insert into documents (tenant_id, document_id, collection_id, source_type, content_sha256, chars, chunk_count, created_by)
           values ${documentRows.slice(i, i + 1000).join(',')}`,
        );
      }
      insertMs += performance.now() - started;
      for (const row of chunkRows) {
        pending.push(row);
        if (pending.length >= options.batch) await flush();
      }
      if (sizeClass !== undefined && vectors !== null) {
        sampled.push({
          rank,
          size,
          firstChunk: global,
          topics,
          documents: documentVectors.length,
          sizeClass,
          vectors,
          documentVectors,
        });
      }
      global += size;
      if (performance.now() - lastReport > 15_000) {
        log(
          `  ${global} / ${options.chunks} chunks (${(((insertMs / global) * 10_000) / 1000).toFixed(1)} s of inserts per 10k rows so far)`,
        );
        lastReport = performance.now();
      }
    }
    await flush();
  } finally {
    session.release();
  }
  log(
    `  inserted ${options.chunks} chunks: ${seconds(insertMs)} in INSERTs, ${seconds(generateMs)} generating`,
  );

  let indexMs = 0;
  if (options.index === 'rebuild') {
    log(`  building ${indexName} (maintenance_work_mem ${options.maintenanceWorkMem}) …`);
    const started = performance.now();
    await ownerScript(
      database,
      `set maintenance_work_mem = '${options.maintenanceWorkMem}'; ${definition.def}; reset maintenance_work_mem;`,
    );
    indexMs = performance.now() - started;
    log(`  index built in ${seconds(indexMs)}`);
  }
  const [sizesRow] = await q<{ db: string; tbl: string; idx: string }>(
    `select pg_size_pretty(pg_database_size(current_database())) as db,
       pg_size_pretty(pg_total_relation_size('chunks')) as tbl,
       pg_size_pretty(pg_relation_size($1::regclass)) as idx`,
    [indexName],
  );
  return {
    report: {
      generateMs,
      insertMs,
      indexMs,
      indexDefinition: definition.def,
      databaseSize: sizesRow?.db ?? '?',
      tableSize: sizesRow?.tbl ?? '?',
      indexSize: sizesRow?.idx ?? '?',
    },
    sampled,
  };
}

/**
 * What a chunk insert costs with the HNSW index in place at full size (as every ingest pays it):
 * `count` chunks of a new tenant inserted in batches like the load, in a transaction rolled back
 * afterwards. Milliseconds per chunk.
 */
async function probeInserts(
  database: TestDatabase,
  centres: Float64Array[],
  count: number,
): Promise<number> {
  const rank = options.tenants + 1;
  const tid = tenantId(rank);
  const col = collectionId(rank);
  const rng = new SeededRandom(deriveSeed(options.seed, 3));
  const rows: string[] = [];
  for (let k = 0; k < count; k++) {
    const v = perturbed(
      rng,
      perturbed(rng, centres[rng.int(centres.length)]!, DOC_NOISE),
      CHUNK_NOISE,
    );
    rows.push(
      `('${tid}', '${chunkId(options.chunks + k)}', '${col}', 'doc_probe', ${k}, 'probe ${k}', 0, 400, 80, ${options.dims}, '${vectorText(v, null, 0)}')`,
    );
  }
  const session = await database.db.backend.acquire();
  try {
    await session.script(
      `begin;
       insert into tenants (tenant_id, name) values ('${tid}', 'probe');
       insert into collections (tenant_id, collection_id, name, embedding_model, dimensions, chunk_tokens, chunk_overlap)
         values ('${tid}', '${col}', 'docs', 'bench/clustered', ${options.dims}, 300, 50);
       insert into documents (tenant_id, document_id, collection_id, source_type, content_sha256, chars, chunk_count, created_by)
         values ('${tid}', 'doc_probe', '${col}', 'markdown', 'x', 1, ${count}, 'bench');`,
    );
    const started = performance.now();
    for (let i = 0; i < rows.length; i += options.batch) {
      await session.script(
        `insert into chunks (tenant_id, chunk_id, collection_id, document_id, position, content,
           start_char, end_char, tokens, dims, embedding) values ${rows.slice(i, i + options.batch).join(',')}`,
      );
    }
    return (performance.now() - started) / count;
  } finally {
    await session.script('rollback').catch(() => undefined);
    session.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Queries

interface Query {
  vector: number[];
  onTopic: boolean;
  /** Chunk numbers (within the tenant) of the true top k and the k-th distance. */
  truth: Set<number>;
  kthDistance: number;
  distances: Float64Array;
}

function queriesFor(tenant: SampledTenant, centres: Float64Array[], count: number): Query[] {
  const rng = new SeededRandom(deriveSeed(options.seed, 2, tenant.rank));
  const queries: Query[] = [];
  for (let i = 0; i < count; i++) {
    const onTopic = i % OFF_TOPIC_EVERY !== OFF_TOPIC_EVERY - 1;
    const raw = onTopic
      ? perturbed(rng, tenant.documentVectors[rng.int(tenant.documentVectors.length)]!, QUERY_NOISE)
      : perturbed(rng, centres[rng.int(centres.length)]!, DOC_NOISE);
    const vector = Array.from(raw, (x) => Number(x.toFixed(5)));
    queries.push({ vector, onTopic, ...exactNeighbours(tenant, vector) });
  }
  return queries;
}

/** Brute-force cosine distance to every chunk of the tenant, as pgvector computes it. */
function exactNeighbours(tenant: SampledTenant, query: readonly number[]) {
  const dims = options.dims;
  let qq = 0;
  for (const x of query) qq += x * x;
  const distances = new Float64Array(tenant.size);
  for (let k = 0; k < tenant.size; k++) {
    let dot = 0;
    let vv = 0;
    const o = k * dims;
    for (let i = 0; i < dims; i++) {
      const v = tenant.vectors[o + i]!;
      dot += v * query[i]!;
      vv += v * v;
    }
    distances[k] = 1 - dot / Math.sqrt(qq * vv);
  }
  const order = Array.from(distances.keys()).sort((a, b) => distances[a]! - distances[b]!);
  const k = Math.min(TOP_K, tenant.size);
  return {
    truth: new Set(order.slice(0, k)),
    kthDistance: distances[order[k - 1]!]!,
    distances,
  };
}

/** recall@k with ties: a returned chunk no farther than the k-th true neighbour is a true one. */
function recallOf(tenant: SampledTenant, query: Query, hits: readonly SearchHit[]): number {
  const k = Math.min(TOP_K, tenant.size);
  let found = 0;
  for (const hit of hits.slice(0, k)) {
    const n = Number(hit.chunk_id.slice(3)) - tenant.firstChunk;
    if (n < 0 || n >= tenant.size)
      throw new Error(`chunk ${hit.chunk_id} is not tenant ${tenant.rank}'s`);
    if (query.truth.has(n) || query.distances[n]! <= query.kthDistance + TIE_TOLERANCE) found += 1;
  }
  return found / k;
}

/**
 * Which search path a query takes. `production`: `vectorSearch` told the real collection size, so
 * it picks exact or HNSW itself and the planner picks the plan. `hnsw`: told a huge collection,
 * and with sorting disabled for the planner (`enable_sort = off`), which then must read the rows
 * in order from the HNSW index — optionally with `ef_search` or the iterative scan mode overridden
 * right after `vectorSearch` sets them. `exact`: told an empty collection. `rank-first`: not
 * `vectorSearch` but a proposed variant of its exact query (`rankFirstSearch`).
 */
type PathChoice =
  | { kind: 'production' }
  | { kind: 'hnsw'; efSearch: number | null; strict: boolean }
  | { kind: 'exact' }
  | { kind: 'rank-first' };

function pathLabel(choice: PathChoice): string {
  switch (choice.kind) {
    case 'production':
      return 'as production chooses';
    case 'exact':
      return 'exact forced';
    case 'rank-first':
      return 'exact, ranked before the join (proposed)';
    case 'hnsw': {
      const settings = [
        ...(choice.efSearch === null ? [] : [`ef_search ${choice.efSearch}`]),
        ...(choice.strict ? ['strict_order'] : []),
      ];
      return `HNSW forced${settings.length === 0 ? '' : `, ${settings.join(', ')}`}`;
    }
  }
}

/**
 * The exact query of `vectorSearch` with one change: the collection's chunks are ranked and cut to
 * the limit first, and only the winners are joined to their documents (for title and external
 * id). Same filters, same order, same rows; the join no longer runs for every chunk.
 */
async function rankFirstSearch(
  tx: Parameters<typeof vectorSearch>[0],
  collection: string,
  embedding: readonly number[],
  limit: number,
): Promise<SearchHit[]> {
  const query = `[${embedding.join(',')}]`;
  // The reader filter of vectorSearch for a reader without user or groups, written out.
  const { rows } = await sql<SearchHit>`
    with ranked as materialized (
      select c.chunk_id, c.document_id, c.position, c.heading, c.content, c.start_char, c.end_char,
        c.embedding <=> ${query}::vector as distance
      from chunks c
      where c.collection_id = ${collection} and c.dims = ${options.dims}
        and ((c.allowed_users is null and c.allowed_groups is null)
          or ${''} = any(coalesce(c.allowed_users, '{}'))
          or coalesce(c.allowed_groups, '{}') && ${'{}'}::text[])
      order by c.embedding <=> ${query}::vector, c.chunk_id
      limit ${limit}
    )
    select r.chunk_id, r.document_id, r.position, r.heading, r.content, r.start_char, r.end_char,
      d.title, d.external_id, 1 - r.distance as score
    from ranked r join documents d on d.document_id = r.document_id
    order by r.distance, r.chunk_id`.execute(tx);
  return rows;
}

type Phase = 'as loaded' | 'after ANALYZE';

interface Measurement {
  tenant: SampledTenant;
  phase: Phase;
  path: string;
  onTopic: boolean;
  recall: number;
  returned: number;
  ms: number;
}

function sizeFor(choice: PathChoice, actual: number): number {
  if (choice.kind === 'hnsw') return Number.MAX_SAFE_INTEGER;
  if (choice.kind === 'exact' || choice.kind === 'rank-first') return 0;
  return actual;
}

async function search(
  database: TestDatabase,
  tenant: SampledTenant,
  query: Query,
  choice: PathChoice,
  explain: boolean,
): Promise<{ hits: SearchHit[]; ms: number; size: number; plan: string | null }> {
  const recorded: RecordedQuery[] = [];
  const efSearch = choice.kind === 'hnsw' ? choice.efSearch : null;
  const overrides = [
    ...(efSearch === null ? [] : [`set_config('hnsw.ef_search', '${efSearch}', true)`]),
    ...(choice.kind === 'hnsw' && choice.strict
      ? [`set_config('hnsw.iterative_scan', 'strict_order', true)`]
      : []),
  ];
  let plan: string | null = null;
  let size = 0;
  const started = performance.now();
  const hits = await inTenantScope(
    database.db,
    tenantId(tenant.rank),
    async (tx) => {
      if (choice.kind === 'hnsw') await sql`set local enable_sort = off`.execute(tx);
      // What production passes: the collection's chunk count, read in the same transaction.
      size = await countChunks(tx, collectionId(tenant.rank));
      const found =
        choice.kind === 'rank-first'
          ? await rankFirstSearch(tx, collectionId(tenant.rank), query.vector, TOP_K)
          : await vectorSearch(tx, {
              collectionId: collectionId(tenant.rank),
              dims: options.dims,
              embedding: query.vector,
              reader: { userId: null, groups: [] },
              limit: TOP_K,
              collectionSize: sizeFor(choice, size),
            });
      if (explain) {
        const last = recorded[recorded.length - 1]!;
        if (efSearch !== null) {
          // The override must have reached the search (checked once per tenant and path).
          const { rows } = await sql<{
            ef: string;
          }>`select current_setting('hnsw.ef_search') as ef`.execute(tx);
          if (rows[0]?.ef !== String(efSearch))
            throw new Error(`ef_search is ${rows[0]?.ef}, not ${efSearch}`);
        }
        const result = await tx.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${last.text}`, [...last.params]),
        );
        plan = result.rows.map((r) => r['QUERY PLAN']).join('\n');
      }
      return found;
    },
    {
      record: (q) => recorded.push(q),
      after: (q) =>
        overrides.length > 0 && q.text.includes('hnsw.ef_search')
          ? `select ${overrides.join(', ')};`
          : null,
    },
  );
  const ms = performance.now() - started;
  return { hits, ms, size, plan };
}

/** The access method of a plan's scan on chunks, in a few words. */
function planSummary(plan: string | undefined): string {
  if (plan === undefined) return '?';
  if (plan.includes(`Index Scan using chunks_embedding_${options.dims}`)) return 'HNSW index scan';
  if (plan.includes('chunks_by_collection')) return 'collection index + sort';
  if (plan.includes('Seq Scan on chunks')) return 'sequential scan + sort';
  return 'other';
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const mean = (xs: readonly number[]) =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: readonly number[], q: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    q,
  );

function table(header: string[], rows: string[][], leftColumns: number): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(header),
    line(header.map((_, i) => (i < leftColumns ? '---' : '--:'))),
    ...rows.map(line),
  ].join('\n');
}

const statsHeader = [
  'queries',
  'recall@10',
  'on-topic',
  'off-topic',
  'worst query',
  'short',
  'p50 ms',
  'p95 ms',
];

/** "short": queries that returned fewer rows than the tenant has up to 10. */
function stats(ms: readonly Measurement[]): string[] {
  const recalls = ms.map((m) => m.recall);
  const latencies = ms.map((m) => m.ms);
  return [
    String(ms.length),
    fmt(mean(recalls)),
    fmt(mean(ms.filter((m) => m.onTopic).map((m) => m.recall))),
    fmt(mean(ms.filter((m) => !m.onTopic).map((m) => m.recall))),
    fmt(Math.min(...recalls), 2),
    String(ms.filter((m) => m.returned < Math.min(TOP_K, m.tenant.size)).length),
    fmt(quantile(latencies, 0.5), 1),
    fmt(quantile(latencies, 0.95), 1),
  ];
}

const sizeRange = (tenants: readonly SampledTenant[]) =>
  `${Math.min(...tenants.map((t) => t.size))}–${Math.max(...tenants.map((t) => t.size))}`;

// ---------------------------------------------------------------------------------------------
// Main

async function measurePhase(
  database: TestDatabase,
  phase: Phase,
  sampled: readonly SampledTenant[],
  queries: ReadonlyMap<SampledTenant, Query[]>,
  choices: readonly PathChoice[],
  measurements: Measurement[],
  plans: Map<string, string>,
): Promise<void> {
  // The forced paths run on the first few tenants of each class (spread over its size range).
  const forcedOn = new Set<SampledTenant>();
  for (const c of ['large', 'medium', 'small'] as const) {
    const inClass = sampled.filter((t) => t.sizeClass === c);
    const n = Math.min(options.forcedTenants, inClass.length);
    for (let i = 0; i < n; i++) {
      forcedOn.add(inClass[n === 1 ? 0 : Math.round((i * (inClass.length - 1)) / (n - 1))]!);
    }
  }
  for (const tenant of sampled) {
    const mine = queries.get(tenant)!;
    // Warm-up: the tenant's rows and the index pages it touches come into the buffer cache.
    await search(database, tenant, mine[0]!, { kind: 'production' }, false);
    for (const choice of choices) {
      if (choice.kind === 'exact' && tenant.size <= EXACT_SEARCH_MAX_CHUNKS) continue;
      if (choice.kind === 'rank-first' && tenant.sizeClass !== 'large') continue;
      if (choice.kind !== 'production' && !forcedOn.has(tenant)) continue;
      const count =
        choice.kind === 'production' || tenant.sizeClass === 'large'
          ? mine.length
          : Math.min(mine.length, options.forcedQueries);
      for (let i = 0; i < count; i++) {
        const query = mine[i]!;
        const result = await search(database, tenant, query, choice, i === 0);
        const path = pathLabel(choice);
        if (result.plan !== null) plans.set(`${phase}|${tenant.rank}|${path}`, result.plan);
        if (result.size !== tenant.size) {
          throw new Error(`tenant ${tenant.rank}: ${result.size} chunks, expected ${tenant.size}`);
        }
        measurements.push({
          tenant,
          phase,
          path,
          onTopic: query.onTopic,
          recall: recallOf(tenant, query, result.hits),
          returned: result.hits.length,
          ms: result.ms,
        });
      }
    }
    const production = measurements.filter(
      (m) =>
        m.tenant === tenant && m.phase === phase && m.path === pathLabel({ kind: 'production' }),
    );
    log(
      `  [${phase}] tenant #${tenant.rank} (${tenant.sizeClass}, ${tenant.size} chunks): recall@10 ${fmt(mean(production.map((m) => m.recall)))}, p50 ${fmt(
        quantile(
          production.map((m) => m.ms),
          0.5,
        ),
        1,
      )} ms, plan: ${planSummary(plans.get(`${phase}|${tenant.rank}|${pathLabel({ kind: 'production' })}`))}`,
    );
  }
}

async function main(): Promise<void> {
  const runStarted = performance.now();
  const command = `nice -n 10 node --import tsx bench/filtered-search.ts${cliArgs.length > 0 ? ` ${cliArgs.join(' ')}` : ''}`;
  log(`Filtered vector search benchmark: ${command}`);
  log(`Machine: ${machineDescription()}`);

  const sizes = zipfSizes(options.chunks, options.tenants, options.zipf);
  const sample = sampleRanks(options.tenants);
  const aboveThreshold = sizes.filter((s) => s > EXACT_SEARCH_MAX_CHUNKS).length;
  const sizeLine = `largest ${sizes.slice(0, 5).join(', ')}; median ${sizes[Math.floor(sizes.length / 2)]}; smallest ${sizes[sizes.length - 1]}; ${aboveThreshold} tenant(s) above \`EXACT_SEARCH_MAX_CHUNKS\` = ${EXACT_SEARCH_MAX_CHUNKS}`;
  log(
    `${options.tenants} tenants, ${options.chunks} chunks (Zipf s = ${options.zipf}): ${sizeLine}`,
  );

  const centreRng = new SeededRandom(deriveSeed(options.seed, 0));
  const centres = Array.from({ length: options.topics }, () => randomUnit(centreRng, options.dims));

  const setupStarted = performance.now();
  const database = await createTestDatabase();
  if (database.kind !== 'pglite') {
    throw new Error('this benchmark is for the embedded database: unset DATABASE_URL');
  }
  const setupMs = performance.now() - setupStarted;
  try {
    const [pgv] = await database.ownerQuery<{ v: string }>(
      `select extversion as v from pg_extension where extname = 'vector'`,
    );
    log(`PGlite with pgvector ${pgv?.v ?? '?'}; loading (index: ${options.index}) …`);
    const { report, sampled } = await load(database, sizes, centres, sample);

    const truthStarted = performance.now();
    const queries = new Map(sampled.map((t) => [t, queriesFor(t, centres, options.queries)]));
    log(
      `  exact neighbours of ${sampled.length * options.queries} queries in ${seconds(performance.now() - truthStarted)}`,
    );

    // The scope is the production one: another tenant's collection is invisible in it (RLS).
    const leaked = await inTenantScope(database.db, tenantId(2), (tx) =>
      countChunks(tx, collectionId(1)),
    );
    if (leaked !== 0) throw new Error(`tenant 2 sees ${leaked} of tenant 1's chunks: RLS is off`);

    const measurements: Measurement[] = [];
    const plans = new Map<string, string>();
    const production: PathChoice = { kind: 'production' };
    const searchStarted = performance.now();
    // Phase 1: as loaded. The embedded database has no autovacuum, so in production its tables are
    // never analysed and the planner works without column statistics — as here.
    const rankFirst: PathChoice = { kind: 'rank-first' };
    await measurePhase(
      database,
      'as loaded',
      sampled,
      queries,
      [production, rankFirst],
      measurements,
      plans,
    );
    const analyzeStarted = performance.now();
    await ownerScript(database, 'analyze chunks; analyze documents;');
    const analyzeMs = performance.now() - analyzeStarted;
    // Phase 2: with statistics, as on a PostgreSQL server whose autovacuum has analysed the table;
    // and each path forced, with the ef_search values to try.
    const choices: PathChoice[] = [
      production,
      { kind: 'hnsw', efSearch: null, strict: false },
      ...options.efSearch.map((ef): PathChoice => ({ kind: 'hnsw', efSearch: ef, strict: false })),
      { kind: 'hnsw', efSearch: null, strict: true },
      { kind: 'exact' },
      rankFirst,
    ];
    await measurePhase(database, 'after ANALYZE', sampled, queries, choices, measurements, plans);
    const searchMs = performance.now() - searchStarted;
    // Last, as the probe leaves dead entries in the index (its transaction is rolled back).
    const probeMsPerChunk =
      options.probeInserts === 0
        ? null
        : await probeInserts(database, centres, options.probeInserts);
    if (probeMsPerChunk !== null) {
      log(`  inserting with the HNSW index in place: ${probeMsPerChunk.toFixed(2)} ms per chunk`);
    }
    const totalMs = performance.now() - runStarted;

    const classes: SizeClass[] = ['large', 'medium', 'small'];
    const phases: Phase[] = ['as loaded', 'after ANALYZE'];
    const productionLabel = pathLabel(production);
    const planOf = (phase: Phase, t: SampledTenant, path: string) =>
      planSummary(plans.get(`${phase}|${t.rank}|${path}`));
    const plansOf = (phase: Phase, tenants: readonly SampledTenant[], path: string) =>
      [...new Set(tenants.map((t) => planOf(phase, t, path)))].join(', ');

    const byClass = phases.flatMap((phase) =>
      classes.map((c) => {
        const tenants = sampled.filter((t) => t.sizeClass === c);
        const ms = measurements.filter(
          (m) => m.phase === phase && m.path === productionLabel && m.tenant.sizeClass === c,
        );
        return [
          phase,
          c,
          String(tenants.length),
          sizeRange(tenants),
          plansOf(phase, tenants, productionLabel),
          ...stats(ms),
        ];
      }),
    );
    const largest = sampled.filter((t) => t.sizeClass === 'large');
    const byLargeTenant = phases.flatMap((phase) =>
      largest.map((t) => {
        const ms = measurements.filter(
          (m) => m.phase === phase && m.path === productionLabel && m.tenant === t,
        );
        return [
          phase,
          `#${t.rank}`,
          String(t.size),
          `${t.size > EXACT_SEARCH_MAX_CHUNKS ? 'HNSW' : 'exact'}: ${planOf(phase, t, productionLabel)}`,
          ...stats(ms),
        ];
      }),
    );
    const forcedPaths = [
      ...new Set(measurements.filter((m) => m.path !== productionLabel).map((m) => m.path)),
    ];
    const byForcedPath = phases.flatMap((phase) =>
      classes.flatMap((c) =>
        forcedPaths.flatMap((path) => {
          const ms = measurements.filter(
            (m) => m.phase === phase && m.path === path && m.tenant.sizeClass === c,
          );
          if (ms.length === 0) return [];
          const tenants = [...new Set(ms.map((m) => m.tenant))];
          return [
            [phase, c, sizeRange(tenants), path, plansOf(phase, tenants, path), ...stats(ms)],
          ];
        }),
      ),
    );

    const tablesText = [
      'As production runs it (`vectorSearch` told the real collection size), before and after `ANALYZE`:',
      '',
      table(['statistics', 'class', 'tenants', 'chunks', 'plan', ...statsHeader], byClass, 5),
      '',
      'The largest tenants one by one:',
      '',
      table(['statistics', 'tenant', 'chunks', 'path: plan', ...statsHeader], byLargeTenant, 4),
      '',
      `Each path forced (all ${options.queries} queries of the largest tenants, the first ${options.forcedQueries} of ${options.forcedTenants} tenants spread over the size range of each other class; "exact forced" only for tenants production sends to HNSW; "ranked before the join" is a proposed variant of the exact query, bench-local SQL, not \`vectorSearch\`):`,
      '',
      table(['statistics', 'class', 'chunks', 'path', 'plan', ...statsHeader], byForcedPath, 5),
    ].join('\n');
    log(`\n${tablesText}\n`);
    const top = largest[0];
    if (top !== undefined) {
      for (const phase of phases) {
        log(
          `Plan of tenant #${top.rank}'s search, ${phase}:\n${(plans.get(`${phase}|${top.rank}|${productionLabel}`) ?? '').replace(/'\[[^\]]*\]'/g, "'[…]'")}\n`,
        );
      }
    }
    log(
      `Load ${seconds(report.insertMs)} (+${seconds(report.generateMs)} generating), index ${seconds(report.indexMs)}, ANALYZE ${seconds(analyzeMs)}, searches ${seconds(searchMs)}, total ${seconds(totalMs)}`,
    );

    if (options.resultsFile !== null) {
      const per10k = (ms: number) => `${(((ms / options.chunks) * 10_000) / 1000).toFixed(2)} s`;
      const analysis = analyse({
        sampled,
        measurements,
        plans,
        insertMsPerChunk: report.insertMs / options.chunks,
        probeMsPerChunk,
      });
      const body = [
        '```sh',
        command,
        '```',
        '',
        `- Date: ${new Date().toISOString()}; Bulkhead ${gitDescription()}`,
        `- Machine: ${machineDescription()}; run under \`nice -n 10\` on a machine shared with other work`,
        `- Database: PGlite ${packageVersion('@electric-sql/pglite')} in-process, in memory, pgvector ${pgv?.v ?? '?'}, migrated by \`createTestDatabase()\`; the HNSW index as the migration defines it: \`${report.indexDefinition}\``,
        `- Data: ${options.tenants} tenants, ${options.chunks} chunks of ${options.dims} dimensions, tenant sizes Zipf (s = ${options.zipf}): ${sizeLine}. One collection per tenant, documents of 1–20 chunks. Embeddings: ${options.topics} shared topic centres (random unit vectors); a tenant covers 3 + ⌊√size / 4⌋ of them; document = centre + noise (length ${DOC_NOISE}), chunk = document + noise (${CHUNK_NOISE}), normalised, 5 decimals; seed ${options.seed}.`,
        `- Queries: ${options.queries} per sampled tenant (${options.large} largest, ${options.medium} medium at log-spaced ranks, ${options.small} small at evenly spaced ranks in the lower 70 %); ${Math.round((1 - OFF_TOPIC_SHARE) * 100)} % on-topic (near one of the tenant's documents, noise ${QUERY_NOISE}), every ${OFF_TOPIC_EVERY}th off-topic (near any shared topic, which the tenant may not cover: its true neighbours are then all far and nearly equidistant). Each runs \`countChunks\` then \`vectorSearch\` (limit ${TOP_K}, a reader without access lists), as \`searchCollection\` does, in a tenant-scoped transaction set up like \`withTenant\` (\`bench/support/tenant-scope.ts\`: RLS applies). Latency is that whole transaction, one query at a time, after one warm-up query per tenant and phase; the query embedding is given, not computed.`,
        `- recall@10: the share of the exact top 10 (brute-force cosine in JavaScript over the tenant's stored float4 values; a returned chunk within ${TIE_TOLERANCE} of the 10th distance counts) that the search returned; a tenant with fewer than 10 chunks is scored on all of them. "short": queries that returned fewer rows than that. pgvector draws each element's HNSW level at random when it builds the index, so HNSW recall moves by a few hundredths from one build to the next.`,
        `- Load: ${options.index === 'rebuild' ? 'HNSW index dropped, rows inserted, index recreated from its own definition' : 'rows inserted with the HNSW index in place'}; multi-row INSERTs of ${options.batch} chunks as the schema owner: ${seconds(report.insertMs)} (${per10k(report.insertMs)} per 10k chunks; generating the data took another ${seconds(report.generateMs)})${options.index === 'rebuild' ? `; index build ${seconds(report.indexMs)} (${per10k(report.indexMs)} per 10k chunks, maintenance_work_mem ${options.maintenanceWorkMem})` : ''}; \`ANALYZE\` ${seconds(analyzeMs)}.${probeMsPerChunk === null ? '' : ` Inserting with the full-size HNSW index in place (${options.probeInserts} more chunks, rolled back): ${probeMsPerChunk.toFixed(2)} ms per chunk, i.e. ${((probeMsPerChunk * 10_000) / 1000).toFixed(0)} s per 10k chunks, against ${((report.insertMs / options.chunks) * 10).toFixed(2)} s per 10k without it.`} Database ${report.databaseSize}; chunks table with its indexes ${report.tableSize}, of which the HNSW index ${report.indexSize}.`,
        `- Whole run ${seconds(totalMs)} (database set-up ${seconds(setupMs)}, searches ${seconds(searchMs)}).`,
        '',
        tablesText,
        '',
        '### Analysis',
        '',
        ...analysis.findings.map((line) => `- ${line}`),
        '',
        '### Recommendations (src/ unchanged by this benchmark)',
        '',
        ...(analysis.recommendations.length === 0
          ? ['- None: the targets are met as the code stands.']
          : analysis.recommendations.map((line) => `- ${line}`)),
      ].join('\n');
      await writeResultsSection(options.resultsFile, HEADING, body);
      log(`Wrote ${relative(process.cwd(), options.resultsFile)}`);
    }
  } finally {
    await database.close();
  }
}

interface AnalysisInput {
  sampled: readonly SampledTenant[];
  measurements: readonly Measurement[];
  plans: ReadonlyMap<string, string>;
  insertMsPerChunk: number;
  probeMsPerChunk: number | null;
}

/** Findings and recommendations, each stated from this run's numbers. */
function analyse(input: AnalysisInput): { findings: string[]; recommendations: string[] } {
  const { sampled, measurements, plans } = input;
  const target = 0.95;
  const production = pathLabel({ kind: 'production' });
  const rankFirst = pathLabel({ kind: 'rank-first' });
  const exact = pathLabel({ kind: 'exact' });
  const strictOrder = pathLabel({ kind: 'hnsw', efSearch: null, strict: true });
  const of = (phase: Phase, path: string, keep: (t: SampledTenant) => boolean) =>
    measurements.filter((m) => m.phase === phase && m.path === path && keep(m.tenant));
  const recall = (ms: readonly Measurement[]) => mean(ms.map((m) => m.recall));
  const p50 = (ms: readonly Measurement[]) =>
    quantile(
      ms.map((m) => m.ms),
      0.5,
    );
  const describe = (ms: readonly Measurement[]) => {
    const on = recall(ms.filter((m) => m.onTopic));
    const off = recall(ms.filter((m) => !m.onTopic));
    return `recall@10 ${fmt(recall(ms))} (on-topic ${fmt(on)}, off-topic ${fmt(off)}), p50 ${fmt(p50(ms), 1)} ms`;
  };
  const usesIndex = (phase: Phase, t: SampledTenant, path: string) =>
    planSummary(plans.get(`${phase}|${t.rank}|${path}`)) === 'HNSW index scan';
  const share = (t: SampledTenant) => `${((100 * t.size) / options.chunks).toFixed(0)} %`;
  const findings: string[] = [];
  const recommendations: string[] = [];

  for (const phase of ['as loaded', 'after ANALYZE'] as const) {
    const parts = (['large', 'medium', 'small'] as const).map((c) => {
      const inClass = of(phase, production, (t) => t.sizeClass === c);
      const perTenant = [...new Set(inClass.map((m) => m.tenant))].map((t) => ({
        t,
        r: recall(inClass.filter((m) => m.tenant === t)),
      }));
      const worst = perTenant.sort((a, b) => a.r - b.r)[0];
      const r = recall(inClass);
      const ok = r >= target && (worst === undefined || worst.r >= target);
      return `${c} ${fmt(r)}, worst tenant ${worst === undefined ? '—' : `#${worst.t.rank} ${fmt(worst.r)}`} (${ok ? 'met' : '**not met**'})`;
    });
    findings.push(`Target recall@10 ≥ ${target} (every tenant), ${phase}: ${parts.join('; ')}.`);
  }

  const hnswTenants = sampled.filter((t) => t.size > EXACT_SEARCH_MAX_CHUNKS);
  if (hnswTenants.length === 0) {
    findings.push(
      `No tenant has more than ${EXACT_SEARCH_MAX_CHUNKS} chunks at this scale, so every production search took the exact branch.`,
    );
  }
  for (const t of hnswTenants) {
    const mine = (phase: Phase, path: string) => of(phase, path, (x) => x === t);
    findings.push(
      `Tenant #${t.rank} (${t.size} chunks, ${share(t)} of all rows) is the only sampled tenant above \`EXACT_SEARCH_MAX_CHUNKS\`, so the only one \`vectorSearch\` sends to its HNSW branch. Without statistics the planner ${usesIndex('as loaded', t, production) ? 'used' : 'did **not** use'} the HNSW index: ${describe(mine('as loaded', production))}. After ANALYZE it ${usesIndex('after ANALYZE', t, production) ? 'used' : 'did **not** use'} it: ${describe(mine('after ANALYZE', production))}.`,
    );
    const sweep = [
      ...new Set(
        measurements
          .filter((m) => m.tenant === t && m.path.startsWith('HNSW forced'))
          .map((m) => m.path),
      ),
    ];
    if (sweep.length > 0) {
      const name = (path: string) =>
        path === 'HNSW forced'
          ? "vectorSearch's settings (ef_search 100, relaxed order)"
          : path.replace('HNSW forced, ', '');
      findings.push(
        `Tenant #${t.rank}, HNSW branch after ANALYZE — ${sweep.map((path) => `${name(path)}: ${describe(mine('after ANALYZE', path))}`).join('; ')}.`,
      );
    }
  }
  const hnswQueries = hnswTenants.flatMap((t) => of('after ANALYZE', production, (x) => x === t));
  const offTopic = hnswQueries.filter((m) => !m.onTopic);
  if (offTopic.length > 0 && recall(offTopic) < recall(hnswQueries.filter((m) => m.onTopic))) {
    findings.push(
      'Off-topic queries are the hard case for a filtered HNSW scan: the tenant has nothing near the query, so its true top 10 are far away and nearly equidistant, and the part of the graph the scan explores first belongs to other tenants. Such a query gets poor matches whichever 10 are returned, so the on-topic column is the one users would notice.',
    );
  }
  for (const c of ['medium', 'small'] as const) {
    const forced = of('after ANALYZE', 'HNSW forced', (t) => t.sizeClass === c);
    if (forced.length === 0) continue;
    const short = forced.filter((m) => m.returned < Math.min(TOP_K, m.tenant.size)).length;
    const p95 = quantile(
      forced.map((m) => m.ms),
      0.95,
    );
    findings.push(
      `${c === 'medium' ? 'Medium' : 'Small'} tenants with the HNSW branch forced: ${describe(forced)}, p95 ${fmt(p95, 1)} ms; ${short === 0 ? 'every query returned its 10 rows' : `${short} of ${forced.length} queries returned fewer than 10 rows (the iterative scan gave up before it found enough of the tenant's rows)`}. On their exact branch, as production runs it: recall 1.000.`,
    );
  }

  // The exact search production runs for a tenant in a phase: its own plan when that is exact,
  // else the exact branch forced (measured after ANALYZE only).
  const exactBaseline = (phase: Phase, t: SampledTenant) =>
    usesIndex(phase, t, production)
      ? of(phase, exact, (x) => x === t)
      : of(phase, production, (x) => x === t);
  const gains: number[] = [];
  for (const phase of ['as loaded', 'after ANALYZE'] as const) {
    const pairs = sampled
      .filter((t) => t.sizeClass === 'large')
      .flatMap((t) => {
        const before = exactBaseline(phase, t);
        const after = of(phase, rankFirst, (x) => x === t);
        if (before.length === 0 || after.length === 0) return [];
        if (phase === 'as loaded') gains.push(p50(before) / p50(after));
        return [`#${t.rank} ${fmt(p50(before), 0)} → ${fmt(p50(after), 0)} ms`];
      });
    findings.push(
      `Exact search of the largest tenants, p50 as \`vectorSearch\` runs it → ranked before the join (proposed), ${phase}: ${pairs.join(', ')}.`,
    );
  }
  if (input.probeMsPerChunk !== null) {
    findings.push(
      `Writes: with the HNSW index in place an insert costs ${input.probeMsPerChunk.toFixed(2)} ms per chunk, ${(input.probeMsPerChunk / input.insertMsPerChunk).toFixed(0)}× the ${input.insertMsPerChunk.toFixed(2)} ms without it; every ingest pays that (a 1,000-chunk document: ${input.probeMsPerChunk.toFixed(0)} s).`,
    );
  }

  if (hnswTenants.some((t) => !usesIndex('as loaded', t, production))) {
    recommendations.push(
      'On the embedded database the HNSW index is not used: PGlite has no autovacuum, so `chunks` never gets statistics, and the planner estimates a collection at about one row and reads it through `chunks_by_collection`. Large tenants are then searched exactly (recall 1, cost linear in their size) while every ingest still pays for the index. Decide which is wanted: have Bulkhead run `ANALYZE chunks, documents` on PGlite (after large ingests, or on a timer) together with the HNSW changes below, or keep exact search there on purpose and say so in docs/knowledge.md.',
    );
  }
  if (gains.length > 0 && Math.min(...gains) > 1.2) {
    recommendations.push(
      `In the exact branch of \`vectorSearch\`, rank and cut the chunks in a CTE first and join \`documents\` for the ${TOP_K} winners only (the bench's \`rankFirstSearch\`: same filters, same rows): ${Math.min(...gains).toFixed(1)}–${Math.max(...gains).toFixed(1)}× faster for the largest tenants without statistics, where the planner otherwise looks up each chunk's document one by one.`,
    );
  }
  for (const t of hnswTenants) {
    const analysed = of('after ANALYZE', production, (x) => x === t);
    if (analysed.length === 0 || recall(analysed) >= target) continue;
    const tried = [
      ...new Set(
        measurements
          .filter((m) => m.tenant === t && m.path.startsWith('HNSW forced, ef_search'))
          .map((m) => m.path),
      ),
    ];
    const efOf = (path: string) => path.replace('HNSW forced, ef_search ', '');
    const reaching = tried.find(
      (path) => recall(of('after ANALYZE', path, (x) => x === t)) >= target,
    );
    const strict = of('after ANALYZE', strictOrder, (x) => x === t);
    const exactP50 = p50(of('after ANALYZE', exact, (x) => x === t));
    const rankFirstP50 = p50(of('as loaded', rankFirst, (x) => x === t));
    const perChunkUs = (1000 * Math.max(exactP50, rankFirstP50)) / t.size;
    const at = (chunks: number) => fmt((perChunkUs * chunks) / 1000, 0);
    const efLine =
      reaching === undefined
        ? `none of the ef_search values tried (${tried.map(efOf).join(', ')}) reached ${target}, though each did better`
        : `ef_search ${efOf(reaching)} reached it (${describe(of('after ANALYZE', reaching, (x) => x === t))})`;
    recommendations.push(
      `The HNSW branch misses the target for a tenant holding ${share(t)} of the index: recall@10 ${fmt(recall(analysed))} with statistics. ef_search = max(100, 4 × limit) is small once the filters reject most candidates: ${efLine}${strict.length > 0 && recall(strict) <= recall(analysed) ? '; strict order did not help' : ''}. An exact scan of the same tenant costs ${fmt(exactP50, 0)} ms p50 with statistics and ${fmt(rankFirstP50, 0)} ms ranked before the join without — about ${perChunkUs.toFixed(1)} µs per chunk, so ≈ ${at(50_000)} ms at 50,000 chunks and ≈ ${at(100_000)} ms at 100,000. Recommended: raise \`EXACT_SEARCH_MAX_CHUNKS\` to where that cost is still acceptable (50,000 here), so that only much larger tenants reach the HNSW branch, and raise ef_search on that branch${reaching === undefined ? ', measuring which value reaches the target at that size' : ` (${efOf(reaching)} here)`}. For tenants far above the threshold, a partial HNSW index per such collection (or partitioning by tenant) takes the filter out of the index scan, at the cost of managing those indexes.`,
    );
  }
  return { findings, recommendations };
}

main().catch((err: unknown) => {
  process.stderr.write(`\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
