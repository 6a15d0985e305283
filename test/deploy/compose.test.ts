import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so this suite holds
 * them to the deployment's promises instead: a sub-manager reaches Temporal and nothing else,
 * every drover process runs from the one image, and that image holds what the processes load.
 */

const repo = new URL('../../', import.meta.url);
const inRepo = (path: string): URL => new URL(path, repo);
const read = (path: string): string => readFileSync(inRepo(path), 'utf8');

const StringOrList = z.union([z.string(), z.array(z.string())]);
const Service = z.object({
  image: z.string().optional(),
  build: z
    .union([z.string(), z.object({ context: z.string().optional(), dockerfile: z.string().optional() })])
    .optional(),
  command: StringOrList.optional(),
  environment: z
    .union([
      z.array(z.string()),
      z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    ])
    .optional(),
  networks: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
  network_mode: z.string().optional(),
  ports: z.array(z.unknown()).optional(),
  volumes: z
    .array(
      z.union([
        z.string(),
        z.object({
          type: z.string(),
          source: z.string().optional(),
          target: z.string(),
          read_only: z.boolean().optional(),
        }),
      ]),
    )
    .optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string().optional() }))])
    .optional(),
  healthcheck: z.object({ test: StringOrList.optional(), disable: z.boolean().optional() }).optional(),
});
type Service = z.infer<typeof Service>;
const Compose = z.object({
  services: z.record(z.string(), Service),
  networks: z.record(z.string(), z.object({ internal: z.boolean().optional() }).nullable()).optional(),
});

const compose = Compose.parse(parse(read('docker-compose.yml'), { merge: true }));

const SUB_MANAGER_PREFIX = 'sub-manager-';
const REQUIRED_SERVICES = [
  'postgres',
  'temporal',
  'temporal-ui',
  'api',
  'control-worker',
  'sub-manager-eu-dc1',
  'sub-manager-us-edge',
];
/** Every drover process and the entry file it must run. */
const ENTRY_FILES: Record<string, string> = {
  api: 'api/server.ts',
  'control-worker': 'workers/main.ts',
  ...Object.fromEntries(
    Object.keys(compose.services)
      .filter((name) => name.startsWith(SUB_MANAGER_PREFIX))
      .map((name) => [name, 'sub-manager/main.ts']),
  ),
};
const sites = Object.keys(compose.services)
  .filter((name) => name.startsWith(SUB_MANAGER_PREFIX))
  .map((name) => name.slice(SUB_MANAGER_PREFIX.length));

const service = (name: string): Service => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
/** Compose puts a service without `networks` on the project's `default` network. */
const networksOf = (s: Service): string[] =>
  s.networks === undefined ? ['default'] : Array.isArray(s.networks) ? s.networks : Object.keys(s.networks);
const membersOf = (network: string): string[] =>
  Object.entries(compose.services)
    .filter(([, s]) => networksOf(s).includes(network))
    .map(([name]) => name)
    .sort();
const environmentOf = (s: Service): Record<string, string | null> => {
  if (s.environment === undefined) return {};
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(
      s.environment.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, null] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(s.environment).map(([key, value]) => [key, value === null ? null : String(value)]),
  );
};
const words = (command: string | string[]): string[] =>
  Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);

// The Dockerfile, as instructions: continuation lines joined, comments and parser directives dropped.
type Instruction = { keyword: string; args: string };
const dockerfile: Instruction[] = read('Dockerfile')
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
const finalStage = dockerfile.slice(dockerfile.findLastIndex((i) => i.keyword === 'FROM'));
/** COPY sources from the build context (not from another stage), as repo paths without a trailing slash. */
const copiedFromContext = dockerfile
  .filter((i) => i.keyword === 'COPY')
  .map((i) => i.args.split(/\s+/))
  .filter((args) => !args.some((a) => a.startsWith('--from=')))
  .flatMap((args) => args.filter((a) => !a.startsWith('--')).slice(0, -1))
  .map((source) => source.replace(/^\.\//, '').replace(/\/+$/, ''));
const imageCommand = (): string[] => {
  const cmd = finalStage.findLast((i) => i.keyword === 'CMD');
  if (!cmd) return [];
  return cmd.args.startsWith('[') ? z.array(z.string()).parse(JSON.parse(cmd.args)) : words(cmd.args);
};

/** What a drover service runs: its own command, or the image's. */
const commandOf = (name: string): string[] => {
  const { command } = service(name);
  return command === undefined ? imageCommand() : words(command);
};

/**
 * What a process loads, found by following its relative imports (and `new URL('…', import.meta.url)`
 * file references, which is how the worker finds its workflows) from its entry file: the top-level
 * repo entries it needs, and the packages it imports at run time. `import type` is erased by Node.
 */
const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\s+(type\s+)?[\w*{}\s,$]*?\bfrom\s*'([^']+)'/gm,
  /^\s*import\s*()'([^']+)'/gm,
  /\bimport\(\s*()'([^']+)'\s*\)/g,
  /\bnew URL\(\s*()'(\.{1,2}\/[^']+)'\s*,\s*import\.meta\.url\s*\)/g,
];
const packageName = (specifier: string): string => {
  const [first = '', second = ''] = specifier.split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
};
const loadedBy = (entries: string[]): { topLevel: Set<string>; packages: Map<string, string> } => {
  const topLevel = new Set<string>();
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: URL): void => {
    if (seen.has(file.href)) return;
    seen.add(file.href);
    if (!file.href.startsWith(repo.href)) return;
    const relative = file.href.slice(repo.href.length);
    const top = relative.split('/')[0];
    if (!top) return;
    topLevel.add(top);
    if (!relative.endsWith('.ts') || !existsSync(file) || !statSync(file).isFile()) return;
    const source = readFileSync(file, 'utf8');
    for (const pattern of IMPORT_PATTERNS) {
      for (const [, typeOnly, specifier = ''] of source.matchAll(pattern)) {
        if (typeOnly) continue;
        if (specifier.startsWith('.')) visit(new URL(specifier, file));
        else if (!isBuiltin(specifier)) packages.set(packageName(specifier), relative);
      }
    }
  };
  for (const entry of entries) visit(inRepo(entry));
  return { topLevel, packages };
};

describe('docker-compose.yml', () => {
  it('has every service of the production topology', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
    expect(sites).toEqual(expect.arrayContaining(['eu-dc1', 'us-edge']));
  });

  it.each(sites)('puts sub-manager-%s on its own site network and nowhere else', (site) => {
    const s = service(`${SUB_MANAGER_PREFIX}${site}`);
    expect(s.network_mode).toBeUndefined();
    expect(networksOf(s)).toEqual([`site-${site}`]);
    expect(environmentOf(s).DROVER_SITE).toBe(site);
  });

  it.each(sites)('makes site-%s internal, shared with Temporal alone', (site) => {
    const network = `site-${site}`;
    expect(compose.networks?.[network]?.internal).toBe(true);
    expect(membersOf(network)).toEqual([`${SUB_MANAGER_PREFIX}${site}`, 'temporal'].sort());
  });

  it('has no site network without a sub-manager', () => {
    const siteNetworks = Object.keys(compose.networks ?? {}).filter((n) => n.startsWith('site-'));
    expect(siteNetworks.sort()).toEqual(sites.map((site) => `site-${site}`).sort());
  });

  it.each(['api', 'control-worker', 'postgres'])('keeps %s on core and off every site network', (name) => {
    const s = service(name);
    expect(s.network_mode).toBeUndefined();
    expect(networksOf(s)).toContain('core');
    expect(networksOf(s).filter((n) => n.startsWith('site-'))).toEqual([]);
  });

  it.each(sites)('gives sub-manager-%s no ports, no database and its kubeconfig read-only', (site) => {
    const s = service(`${SUB_MANAGER_PREFIX}${site}`);
    const env = environmentOf(s);
    expect(s.ports ?? []).toEqual([]);
    expect(Object.keys(env)).not.toContain('DATABASE_URL');
    expect(Object.values(env).filter((v) => v?.includes('postgres'))).toEqual([]);
    const kubeconfig = env.DROVER_KUBECONFIG;
    expect(kubeconfig).toEqual(expect.any(String));
    const mount = (s.volumes ?? []).find((v) => typeof v !== 'string' && v.target === kubeconfig);
    expect(mount).toMatchObject({ type: 'bind', source: `./sites/${site}/kubeconfig`, read_only: true });
  });

  it('runs the API, the control worker and every sub-manager from the one drover image', () => {
    const identities = Object.keys(ENTRY_FILES).map((name) => {
      const { image, build } = service(name);
      const context = typeof build === 'string' ? build : build?.context;
      const file = typeof build === 'string' ? undefined : build?.dockerfile;
      return {
        image,
        build: build === undefined ? undefined : { context, dockerfile: file ?? 'Dockerfile' },
      };
    });
    const [first] = identities;
    expect(first?.image ?? first?.build).toBeDefined();
    for (const identity of identities) expect(identity).toEqual(first);
    if (first?.build) {
      expect(first.build.context?.replace(/\/$/, '')).toMatch(/^\.?$/);
      expect(first.build.dockerfile).toBe('Dockerfile');
    }
  });

  it.each(Object.entries(ENTRY_FILES))('runs %s from %s, a file that exists', (name, entry) => {
    const argv = commandOf(name);
    expect(argv[0]).toBe('node');
    expect(argv).toContain(entry);
    expect(argv.filter((a) => a.endsWith('.ts') && !existsSync(inRepo(a)))).toEqual([]);
  });

  it('only waits on the health of services that have a healthcheck', () => {
    const unchecked = Object.entries(compose.services).flatMap(([name, s]) =>
      Object.entries(s.depends_on === undefined || Array.isArray(s.depends_on) ? {} : s.depends_on)
        .filter(([dependency, { condition }]) => {
          const check = service(dependency).healthcheck;
          return condition === 'service_healthy' && (check?.test === undefined || check.disable === true);
        })
        .map(([dependency]) => `${name} waits on ${dependency}`),
    );
    expect(unchecked).toEqual([]);
  });
});

describe('Dockerfile', () => {
  it('builds on Node 24 or later', () => {
    const stages = new Set<string>();
    const bases: string[] = [];
    for (const { args } of dockerfile.filter((i) => i.keyword === 'FROM')) {
      const [image = '', as, alias] = args.split(/\s+/).filter((a) => !a.startsWith('--'));
      if (!stages.has(image)) bases.push(image);
      if (as?.toUpperCase() === 'AS' && alias) stages.add(alias);
    }
    expect(bases.length).toBeGreaterThan(0);
    const nodeMajor = (base: string) => Number(/^(?:docker\.io\/(?:library\/)?)?node:(\d+)/.exec(base)?.[1]);
    expect(bases.filter((base) => !(nodeMajor(base) >= 24))).toEqual([]);
  });

  it('runs as a user other than root', () => {
    const user = finalStage.findLast((i) => i.keyword === 'USER')?.args;
    expect(user).toEqual(expect.any(String));
    expect(user?.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('starts the API by default and exposes its port', () => {
    expect(imageCommand()).toContain('api/server.ts');
    expect(finalStage.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args)).toContain('8080');
  });

  it('copies only paths that exist', () => {
    // A clean clone has no empty directories, so an empty one would be missing from the build context too.
    const missing = copiedFromContext.filter((source) => {
      const path = inRepo(source);
      return !existsSync(path) || (statSync(path).isDirectory() && readdirSync(path).length === 0);
    });
    expect(missing).toEqual([]);
  });

  describe('holds what the processes load', () => {
    const commands = [...Object.keys(ENTRY_FILES).map(commandOf), imageCommand()];
    const { topLevel, packages } = loadedBy([...new Set(commands.flat().filter((a) => a.endsWith('.ts')))]);

    it('copies every file and folder they import', () => {
      expect([...topLevel].filter((top) => !copiedFromContext.includes(top))).toEqual([]);
    });

    it('installs every package they import: a production dependency, as the image omits dev ones', () => {
      const { dependencies } = z
        .object({ dependencies: z.record(z.string(), z.string()).default({}) })
        .parse(JSON.parse(read('package.json')));
      // [package, the file that imports it]
      expect([...packages].filter(([name]) => !(name in dependencies))).toEqual([]);
    });
  });
});
