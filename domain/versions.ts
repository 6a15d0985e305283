/** Kubernetes version strings as clusters and clouds report them. */

/** "1.33" from "1.33", "v1.33.5", "1.33.5-gke.1308000", "1.33.2-eks-…"; null otherwise. */
export const minorOf = (version: string | null | undefined): string | null => {
  const m = /^v?(\d+)\.(\d+)(?:$|[.-])/.exec((version ?? '').trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : null;
};

/** Orders dotted numeric versions ("1.33" < "1.33.2" < "1.34"), a missing part counting as 0. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
};
