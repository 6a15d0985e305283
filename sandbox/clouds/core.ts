/**
 * The engine shared by the three sandbox clouds. Each sandbox server (eks.ts, gke.ts, aks.ts)
 * speaks its cloud's wire protocol and renders errors its cloud's way; the state, the clock,
 * the state machines, quotas and fault injection live here, once.
 *
 * State machine of a cluster or node pool:
 *   creating ──(createDelayMs)──▶ ready ──delete──▶ deleting ──(deleteDelayMs)──▶ gone
 *   creating ──(an injected async failure)──▶ failed ──delete──▶ deleting ──▶ gone
 * Transitions are computed from the injectable clock when a request comes in (`settle`), so a
 * test moves time with `ManualClock.advance` instead of sleeping. A cluster that becomes
 * ready is given a real Kubernetes API server by the `ClusterBacking` when there is one.
 */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export type SandboxStatus = 'creating' | 'ready' | 'deleting' | 'failed';

/** Kubernetes API access a sandbox cluster gets once ready. */
export interface BackingAccess {
  server: string;
  caData: string;
  token: string;
}

/** Gives sandbox clusters real API servers (the kube test environment), or none. */
export interface ClusterBacking {
  provision(key: string): Promise<BackingAccess>;
  release(key: string): Promise<void>;
}

export interface SandboxNodePool {
  name: string;
  status: SandboxStatus;
  since: number;
  /** Whatever the cloud-specific server wants to keep (the request body, mostly). */
  spec: Record<string, unknown>;
  failWith: string | null;
}

export interface SandboxCluster {
  location: string;
  name: string;
  status: SandboxStatus;
  since: number;
  createdAt: number;
  spec: Record<string, unknown>;
  nodePools: Map<string, SandboxNodePool>;
  access: BackingAccess | null;
  failWith: string | null;
  /** Monotonic per sandbox: ids, ARNs and operation names derive from it. */
  serial: number;
}

export type SandboxOp =
  | 'createCluster'
  | 'deleteCluster'
  | 'describeCluster'
  | 'listClusters'
  | 'createNodePool'
  | 'deleteNodePool'
  | 'describeNodePool'
  | 'getOperation'
  | 'catalog';

export type FaultKind =
  /** Refused at once with the cloud's throttling error and a Retry-After. */
  | 'throttle'
  /** Refused at once with the cloud's quota error. */
  | 'quota'
  /** Refused at once with a 5xx. */
  | 'internal'
  /** Accepted, then the operation ends in failure: the resource goes to `failed`. */
  | 'fail-async';

export interface Fault {
  op: SandboxOp;
  kind: FaultKind;
  /** How many requests it hits; default 1. */
  times?: number;
  retryAfterSeconds?: number;
  /** Only requests naming this cluster. */
  cluster?: string;
}

export type SandboxErrorCode =
  'AlreadyExists' | 'NotFound' | 'Quota' | 'Throttled' | 'ResourceInUse' | 'Invalid' | 'Internal';

/** Raised by the core; each server renders it in its cloud's format and status code. */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: SandboxErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface SandboxCloudOptions {
  clock?: Clock;
  createDelayMs?: number;
  deleteDelayMs?: number;
  nodePoolDelayMs?: number;
  /** Most clusters that may exist at once (quota). */
  maxClusters?: number;
  backing?: ClusterBacking;
}

/** One cloud's account: its clusters, node pools, clock and faults. */
export class SandboxCloud {
  readonly clock: Clock;
  readonly createDelayMs: number;
  readonly deleteDelayMs: number;
  readonly nodePoolDelayMs: number;
  readonly maxClusters: number;
  readonly backing: ClusterBacking | undefined;
  readonly #clusters = new Map<string, SandboxCluster>();
  #faults: (Fault & { left: number })[] = [];
  #serial = 0;
  /** Requests seen per op, for tests that count calls (retries, idempotency). */
  readonly calls = new Map<SandboxOp, number>();

  constructor(options: SandboxCloudOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.createDelayMs = options.createDelayMs ?? 3_000;
    this.deleteDelayMs = options.deleteDelayMs ?? 2_000;
    this.nodePoolDelayMs = options.nodePoolDelayMs ?? 2_000;
    this.maxClusters = options.maxClusters ?? 50;
    this.backing = options.backing;
  }

  static key(location: string, name: string): string {
    return `${location}/${name}`;
  }

  inject(fault: Fault): void {
    this.#faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /**
   * Call first in every request handler: counts the call, applies due transitions and throws
   * an injected immediate fault. Returns true when an async failure is to be injected.
   */
  async begin(op: SandboxOp, cluster?: string): Promise<{ failAsync: boolean }> {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    await this.settle();
    const fault = this.#faults.find(
      (f) => f.left > 0 && f.op === op && (f.cluster === undefined || f.cluster === cluster),
    );
    if (!fault) return { failAsync: false };
    fault.left--;
    this.#faults = this.#faults.filter((f) => f.left > 0);
    switch (fault.kind) {
      case 'throttle':
        throw new SandboxError('Throttled', 'Rate exceeded', fault.retryAfterSeconds ?? 2);
      case 'quota':
        throw new SandboxError('Quota', `quota exceeded: at most ${this.maxClusters} clusters`);
      case 'internal':
        throw new SandboxError('Internal', 'internal error (injected)');
      case 'fail-async':
        return { failAsync: true };
    }
  }

  /** Applies every transition due by now: creating → ready/failed, deleting → gone. */
  async settle(): Promise<void> {
    const now = this.clock.now();
    for (const [key, c] of [...this.#clusters]) {
      for (const [poolName, pool] of [...c.nodePools]) {
        if (pool.status === 'creating' && now >= pool.since + this.nodePoolDelayMs) {
          pool.status = pool.failWith ? 'failed' : 'ready';
          pool.since = now;
        } else if (pool.status === 'deleting' && now >= pool.since + this.nodePoolDelayMs) {
          c.nodePools.delete(poolName);
        }
      }
      if (c.status === 'creating' && now >= c.since + this.createDelayMs) {
        if (c.failWith) {
          c.status = 'failed';
        } else {
          if (this.backing) c.access = await this.backing.provision(key);
          c.status = 'ready';
        }
        c.since = now;
      } else if (c.status === 'deleting' && now >= c.since + this.deleteDelayMs) {
        this.#clusters.delete(key);
        if (c.access && this.backing) await this.backing.release(key);
      }
    }
  }

  list(location?: string): SandboxCluster[] {
    return [...this.#clusters.values()]
      .filter((c) => location === undefined || c.location === location)
      .sort((a, b) => a.serial - b.serial);
  }

  /** Every cluster in every location, whatever its state: what a leak check looks at. */
  all(): SandboxCluster[] {
    return this.list();
  }

  get(location: string, name: string): SandboxCluster {
    const c = this.#clusters.get(SandboxCloud.key(location, name));
    if (!c) throw new SandboxError('NotFound', `cluster '${name}' not found in ${location}`);
    return c;
  }

  find(location: string, name: string): SandboxCluster | undefined {
    return this.#clusters.get(SandboxCloud.key(location, name));
  }

  createCluster(
    location: string,
    name: string,
    spec: Record<string, unknown>,
    nodePools: { name: string; spec: Record<string, unknown> }[] = [],
    failAsync = false,
  ): SandboxCluster {
    const key = SandboxCloud.key(location, name);
    if (this.#clusters.has(key))
      throw new SandboxError('AlreadyExists', `cluster '${name}' already exists in ${location}`);
    if (this.#clusters.size >= this.maxClusters)
      throw new SandboxError('Quota', `quota exceeded: at most ${this.maxClusters} clusters`);
    const now = this.clock.now();
    const cluster: SandboxCluster = {
      location,
      name,
      status: 'creating',
      since: now,
      createdAt: now,
      spec,
      nodePools: new Map(),
      access: null,
      failWith: failAsync ? 'cluster creation failed (injected)' : null,
      serial: ++this.#serial,
    };
    for (const p of nodePools) {
      cluster.nodePools.set(p.name, {
        name: p.name,
        status: 'creating',
        since: now,
        spec: p.spec,
        failWith: null,
      });
    }
    this.#clusters.set(key, cluster);
    return cluster;
  }

  /**
   * Starts deleting. `requireNoPools` is EKS's rule (a cluster with node groups attached
   * cannot be deleted); GKE and AKS delete their pools with the cluster.
   */
  deleteCluster(location: string, name: string, requireNoPools = false): SandboxCluster {
    const c = this.get(location, name);
    if (c.status === 'deleting') return c;
    if (c.status === 'creating')
      throw new SandboxError('ResourceInUse', `cluster '${name}' is still being created`);
    if (requireNoPools && c.nodePools.size > 0)
      throw new SandboxError(
        'ResourceInUse',
        `cluster '${name}' has node groups attached: ${[...c.nodePools.keys()].join(', ')}`,
      );
    c.status = 'deleting';
    c.since = this.clock.now();
    for (const pool of c.nodePools.values()) {
      pool.status = 'deleting';
      pool.since = c.since;
    }
    return c;
  }

  createNodePool(
    location: string,
    cluster: string,
    name: string,
    spec: Record<string, unknown>,
    failAsync = false,
  ): SandboxNodePool {
    const c = this.get(location, cluster);
    if (c.status !== 'ready')
      throw new SandboxError('ResourceInUse', `cluster '${cluster}' is ${c.status}, not ready`);
    if (c.nodePools.has(name))
      throw new SandboxError('AlreadyExists', `node pool '${name}' already exists in cluster '${cluster}'`);
    const pool: SandboxNodePool = {
      name,
      status: 'creating',
      since: this.clock.now(),
      spec,
      failWith: failAsync ? 'node pool creation failed (injected)' : null,
    };
    c.nodePools.set(name, pool);
    return pool;
  }

  deleteNodePool(location: string, cluster: string, name: string): SandboxNodePool {
    const c = this.get(location, cluster);
    const pool = c.nodePools.get(name);
    if (!pool) throw new SandboxError('NotFound', `node pool '${name}' not found in cluster '${cluster}'`);
    if (pool.status !== 'deleting') {
      pool.status = 'deleting';
      pool.since = this.clock.now();
    }
    return pool;
  }

  /** Removes everything at once (test teardown), releasing backing API servers. */
  async reset(): Promise<void> {
    const clusters = [...this.#clusters];
    this.#clusters.clear();
    this.clearFaults();
    this.calls.clear();
    if (this.backing) {
      for (const [key, c] of clusters) if (c.access) await this.backing.release(key);
    }
  }
}
