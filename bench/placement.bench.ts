/**
 * Placement over a 10,000-cluster inventory: how long resolving a target spec takes, in the
 * database (the path every bulk run uses), against evaluating the same selector in memory.
 *
 *   node bench/placement.bench.ts                       # embedded PGlite, in-process
 *   DATABASE_URL=postgres://… node bench/placement.bench.ts   # a real Postgres (empty database)
 *
 * Prints one line per case: median and p90 over the repetitions, and the match count.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createClusterStore } from '../db/clusters.ts';
import { openDatabase, openPglite, type Db } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { matches, parseSelector } from '../domain/selectors.ts';

const CLUSTERS = Number(process.env.BENCH_CLUSTERS ?? 10_000);
const REPS = Number(process.env.BENCH_REPS ?? 15);
const SITES = Array.from({ length: 20 }, (_, i) => `site-${i}`);

// A fixed linear congruential generator: the same inventory on every run.
let state = 12345;
const rand = (n: number) => {
  state = (state * 1103515245 + 12345) % 2 ** 31;
  return state % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;

const db: Db = process.env.DATABASE_URL
  ? await openDatabase(process.env.DATABASE_URL)
  : await openPglite('memory');
await migrate(db);
const store = createClusterStore(db);

const inventory = Array.from({ length: CLUSTERS }, (_, i) => {
  const labels: Record<string, string> = {
    env: pick(['prod', 'staging', 'dev']),
    region: pick(['eu', 'us', 'ap']),
  };
  if (rand(3) === 0) labels.tier = pick(['web', 'api', 'batch']);
  if (rand(10) === 0) labels.gpu = 'true';
  return { id: randomUUID(), site: pick(SITES), name: `cluster-${String(i).padStart(5, '0')}`, labels };
});
for (const site of SITES)
  await db.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', $1)`, [site]);
const t0 = performance.now();
for (let i = 0; i < inventory.length; i += 2000) {
  await db.query(
    `INSERT INTO clusters (id, tenant_id, site, name, context, provider, labels, status, origin)
     SELECT (c->>'id')::uuid, 'default', c->>'site', c->>'name', c->>'name', 'kubeconfig', c->'labels', 'ready', 'discovered'
       FROM jsonb_array_elements($1::jsonb) AS c`,
    [JSON.stringify(inventory.slice(i, i + 2000))],
  );
}
await db.query('ANALYZE clusters');
console.log(
  `backend ${db.kind}, ${CLUSTERS} clusters seeded in ${(performance.now() - t0).toFixed(0)} ms, ${REPS} reps per case`,
);

const stats = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, p90: s[Math.floor(s.length * 0.9)] ?? 0 };
};

const cases: { name: string; spec: { selector?: string; sites?: string[]; clusterIds?: string[] } }[] = [
  { name: 'everything (empty selector)', spec: { selector: '' } },
  { name: 'env=prod', spec: { selector: 'env=prod' } },
  { name: 'env=prod,tier in (web,api),!gpu', spec: { selector: 'env=prod,tier in (web,api),!gpu' } },
  { name: 'region notin (eu) + 5 sites', spec: { selector: 'region notin (eu)', sites: SITES.slice(0, 5) } },
  { name: '1,000 explicit ids', spec: { clusterIds: inventory.slice(0, 1000).map((c) => c.id) } },
];

for (const c of cases) {
  const samples: number[] = [];
  let count = 0;
  for (let r = 0; r < REPS; r++) {
    const start = performance.now();
    const refs = await store.placement({
      selector: c.spec.selector === undefined ? undefined : parseSelector(c.spec.selector),
      sites: c.spec.sites,
      clusterIds: c.spec.clusterIds,
    });
    samples.push(performance.now() - start);
    count = refs.length;
  }
  const inMemory: number[] = [];
  if (c.spec.selector !== undefined) {
    const sel = parseSelector(c.spec.selector);
    for (let r = 0; r < REPS; r++) {
      const start = performance.now();
      inventory.filter((x) => matches(sel, x.labels) && (!c.spec.sites || c.spec.sites.includes(x.site)));
      inMemory.push(performance.now() - start);
    }
  }
  const s = stats(samples);
  const m = inMemory.length ? stats(inMemory) : undefined;
  console.log(
    `${c.name.padEnd(36)} matches ${String(count).padStart(5)}  placement median ${s.median.toFixed(1)} ms p90 ${s.p90.toFixed(1)} ms` +
      (m ? `  (in-memory filter median ${m.median.toFixed(2)} ms)` : ''),
  );
}
await db.close();
