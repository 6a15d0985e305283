/**
 * `make netns-demo` (as root): drover with two sites that are really isolated networks. Each
 * site is a Linux network namespace with its own Kubernetes API servers and its own
 * sub-manager, whose firewall lets out only TCP to the Temporal frontend; the central part
 * (API, control worker, database) is `make up` in the host's network, pointed at that
 * Temporal. Cut a site's link while a rollout runs and watch its targets wait:
 *
 *   sudo make netns-demo
 *   bin/drover deploy --release rel-… --site eu-dc1 --site edge-7 --watch   # in another shell
 *   ip link set <link printed below> down      # edge-7 goes dark; its targets show `waiting`
 *   ip link set <link> up                      # they finish, each applied once
 *
 * Ctrl-C stops everything and removes the namespaces.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKeyring } from '../runtime/payload-codec.ts';
import { startFleet, stopChild } from './netns-fleet.ts';
import { siteNetworksUnavailable } from './site-netns.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const home = resolve(process.env.DROVER_HOME ?? `${root}/.drover-netns`);
const apiPort = process.env.DROVER_API_PORT ?? '8090';

const unavailable = siteNetworksUnavailable();
if (unavailable) {
  console.error(`netns-demo: ${unavailable}; run it as root on Linux with iproute2 and nftables`);
  process.exit(1);
}

// The payload keys the central part and both sites encrypt Temporal payloads with.
const payloadKeys = `${home}/payload-keys.json`;
await loadKeyring(payloadKeys, { create: true });

console.log('starting two isolated sites (network namespaces, API servers, sub-managers)…');
const fleet = await startFleet({
  subManagerEnv: { DROVER_PAYLOAD_KEYS: payloadKeys },
  sites: [
    { name: 'eu-dc1', clusters: 2, contextPrefix: 'eu' },
    { name: 'edge-7', clusters: 2, contextPrefix: 'edge' },
  ],
  dir: `${home}/netns`,
  logDir: `${home}/logs`,
});

// The central part, in the host's network: `make up` on the fleet's Temporal, no local clusters.
const central = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', `${root}/tools/up.ts`], {
  stdio: 'inherit',
  env: {
    ...process.env,
    DROVER_HOME: home,
    DROVER_PAYLOAD_KEYS: payloadKeys,
    DROVER_API_PORT: apiPort,
    DROVER_TEMPORAL_ADDRESS: fleet.temporalAddress,
    DROVER_SANDBOX_CLUSTERS: '0',
    DROVER_SANDBOX_CLOUDS: '0',
  },
});

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await stopChild(central, 30_000);
  await fleet.stop();
  console.log('sites removed.');
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
central.once('exit', (code) => void stop(code ?? 1));

console.log(
  [
    '',
    `Temporal (the only thing a site can reach): ${fleet.temporalAddress}`,
    ...fleet.sites.map((s) =>
      [
        `site ${s.name}: namespace ${s.namespace}, address ${s.address}, ${s.clusters.length} API servers`,
        `  cut its link:      ip link set ${fleet.net.site(s.name).hostLink} down   (and \`up\` to restore)`,
        `  look inside:       ip netns exec ${s.namespace} ss -ltnp`,
      ].join('\n'),
    ),
    `logs: ${home}/logs/`,
    '',
  ].join('\n'),
);
