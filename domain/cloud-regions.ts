import type { CloudName } from './clouds.ts';

/**
 * Where a cluster goes when it moves to another cloud: a curated table of the three clouds'
 * regions by metro area, from each cloud's public region list (AWS Regions, Google Cloud
 * locations, Azure geographies), and the zone and per-zone node-count rules the clone planner
 * and the GKE adapter share. Pure and workflow-safe.
 *
 * Each row is one metro area with the region each cloud has there (or, marked `near`, the
 * nearest one it has). A region's home is the first row that has it in its own metro:
 * translating from it uses that row, so the home rows are one-to-one and a clone there and
 * back lands in the metro it started in. Later rows (regions a cloud has where the others have
 * none) send their region to a neighbour's. A choice that leaves the metro is a warning.
 */

type Cell = string | { region: string; approx: true };

export type MetroRow = {
  metro: string;
  /** Rows of one area are each other's fallback when a cloud's catalog lacks a row's region. */
  area: 'us' | 'ca' | 'eu' | 'ap-ne' | 'ap-se' | 'au' | 'in' | 'sa';
  eks: Cell;
  gke: Cell;
  aks: Cell;
};

const near = (region: string): Cell => ({ region, approx: true });

export const METRO_REGIONS: readonly MetroRow[] = [
  // Home rows: one region per cloud per metro, one-to-one.
  { metro: 'Northern Virginia', area: 'us', eks: 'us-east-1', gke: 'us-east4', aks: 'eastus' },
  { metro: 'Ohio', area: 'us', eks: 'us-east-2', gke: 'us-east5', aks: near('centralus') },
  { metro: 'Iowa', area: 'us', eks: near('us-east-2'), gke: 'us-central1', aks: 'centralus' },
  { metro: 'Oregon and Washington', area: 'us', eks: 'us-west-2', gke: 'us-west1', aks: 'westus2' },
  { metro: 'California', area: 'us', eks: 'us-west-1', gke: 'us-west2', aks: 'westus' },
  {
    metro: 'Montréal',
    area: 'ca',
    eks: 'ca-central-1',
    gke: 'northamerica-northeast1',
    aks: near('canadacentral'),
  },
  { metro: 'Ireland', area: 'eu', eks: 'eu-west-1', gke: near('europe-west1'), aks: 'northeurope' },
  { metro: 'London', area: 'eu', eks: 'eu-west-2', gke: 'europe-west2', aks: 'uksouth' },
  { metro: 'Frankfurt', area: 'eu', eks: 'eu-central-1', gke: 'europe-west3', aks: 'germanywestcentral' },
  { metro: 'Paris', area: 'eu', eks: 'eu-west-3', gke: 'europe-west9', aks: 'francecentral' },
  { metro: 'Nordics', area: 'eu', eks: 'eu-north-1', gke: near('europe-north1'), aks: 'swedencentral' },
  { metro: 'Tokyo', area: 'ap-ne', eks: 'ap-northeast-1', gke: 'asia-northeast1', aks: 'japaneast' },
  { metro: 'Seoul', area: 'ap-ne', eks: 'ap-northeast-2', gke: 'asia-northeast3', aks: 'koreacentral' },
  { metro: 'Singapore', area: 'ap-se', eks: 'ap-southeast-1', gke: 'asia-southeast1', aks: 'southeastasia' },
  { metro: 'Sydney', area: 'au', eks: 'ap-southeast-2', gke: 'australia-southeast1', aks: 'australiaeast' },
  { metro: 'Mumbai', area: 'in', eks: 'ap-south-1', gke: 'asia-south1', aks: near('centralindia') },
  { metro: 'São Paulo', area: 'sa', eks: 'sa-east-1', gke: 'southamerica-east1', aks: 'brazilsouth' },
  // Regions without a counterpart in every cloud: sent to a neighbour's home region.
  { metro: 'Northern Virginia', area: 'us', eks: 'us-east-1', gke: 'us-east4', aks: 'eastus2' },
  { metro: 'South Carolina', area: 'us', eks: near('us-east-1'), gke: 'us-east1', aks: near('eastus2') },
  {
    metro: 'Illinois',
    area: 'us',
    eks: near('us-east-2'),
    gke: near('us-central1'),
    aks: 'northcentralus',
  },
  { metro: 'Texas', area: 'us', eks: near('us-east-2'), gke: near('us-central1'), aks: 'southcentralus' },
  { metro: 'Arizona', area: 'us', eks: near('us-west-2'), gke: near('us-west1'), aks: 'westus3' },
  { metro: 'Netherlands', area: 'eu', eks: near('eu-central-1'), gke: 'europe-west4', aks: 'westeurope' },
  {
    metro: 'Toronto',
    area: 'ca',
    eks: near('ca-central-1'),
    gke: 'northamerica-northeast2',
    aks: 'canadacentral',
  },
];

const regionIn = (cell: Cell): string => (typeof cell === 'string' ? cell : cell.region);
const isApprox = (cell: Cell): boolean => typeof cell !== 'string';

/** The row a region translates from: its home, the first row that has it in its own metro. */
export const homeRow = (cloud: CloudName, region: string): MetroRow | undefined =>
  METRO_REGIONS.find((row) => row[cloud] === region) ??
  METRO_REGIONS.find((row) => regionIn(row[cloud]) === region);

export type RegionChoice = {
  region: string;
  /** Undefined when the choice stays in the metro and the target offers it. */
  warning?: string;
};

/**
 * The target cloud's region for a source region. `offered` are the regions the target's
 * catalog lists: a row's region that it does not list falls back to the first row of the same
 * area whose region it lists.
 */
export const translateRegion = (
  from: CloudName,
  region: string,
  to: CloudName,
  offered: readonly string[],
): RegionChoice => {
  const has = (r: string) => offered.length === 0 || offered.includes(r);
  if (from === to) {
    return has(region)
      ? { region }
      : { region, warning: `${to} does not list region '${region}' in its catalog` };
  }
  const row = homeRow(from, region);
  if (!row) {
    const fallback = offered[0] ?? region;
    return {
      region: fallback,
      warning: `no ${to} counterpart is known for ${from} region '${region}'; '${fallback}' is a guess: choose the region`,
    };
  }
  const target = regionIn(row[to]);
  const approx = isApprox(row[from]) || isApprox(row[to]);
  if (has(target)) {
    return approx
      ? {
          region: target,
          warning: `${to} has no region in ${row.metro}; '${target}' is the nearest (from ${from} '${region}')`,
        }
      : { region: target };
  }
  const neighbour = METRO_REGIONS.find((r) => r.area === row.area && has(regionIn(r[to])));
  if (neighbour) {
    const chosen = regionIn(neighbour[to]);
    return {
      region: chosen,
      warning: `${to} region '${target}' (${row.metro}) is not offered by the target account; '${chosen}' (${neighbour.metro}) is the nearest offered`,
    };
  }
  return {
    region: target,
    warning: `${to} region '${target}' (${row.metro}) is not offered by the target account and no region nearby is: choose the region`,
  };
};

// --- GKE's location and per-zone rules ---------------------------------------------------------

/** GKE locations are regions (`us-central1`) or zones (`us-central1-a`). */
export const isGkeZone = (location: string): boolean => /^[a-z]+-[a-z]+\d+-[a-z]$/.test(location);

export const gkeRegionOf = (location: string): string =>
  isGkeZone(location) ? location.replace(/-[a-z]$/, '') : location;

/**
 * How many zones a GKE pool spans: its own zones when given, else GKE's default for the
 * cluster's location: the zone itself for a zonal cluster, and the `clusterZones` of a
 * regional one (GKE picks three when the cluster names none).
 */
export const gkeZoneCount = (
  location: string,
  poolZones: readonly string[],
  clusterZones: readonly string[] = [],
): number => {
  if (poolZones.length > 0) return poolZones.length;
  if (isGkeZone(location)) return Math.max(1, clusterZones.length);
  return clusterZones.length > 0 ? clusterZones.length : 3;
};

/**
 * GKE sizes a pool per zone. drover counts nodes in total, so a total that does not divide
 * by the zones is rounded UP (never fewer nodes than asked): 5 nodes over 3 zones is 2 per
 * zone, 6 in all. The same rule applies to the autoscaling minimum and maximum. `exact` is
 * false when the rounding changed the total: the clone planner lists it as a lossy choice.
 */
export const perZoneCount = (
  total: number,
  zones: number,
): { perZone: number; total: number; exact: boolean } => {
  const perZone = Math.ceil(total / Math.max(1, zones));
  return { perZone, total: perZone * Math.max(1, zones), exact: perZone * Math.max(1, zones) === total };
};

/** The region a location of any cloud is in (a GKE zone is the only location that is not one). */
export const regionOfLocation = (cloud: CloudName, location: string): string =>
  cloud === 'gke' ? gkeRegionOf(location) : location;
