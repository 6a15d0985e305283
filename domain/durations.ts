import { z } from 'zod';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
const DURATION = /^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Milliseconds of a duration such as `90s`, `15m`, `1h30m` or `7d`; undefined when malformed. */
export const durationMs = (text: string): number | undefined => {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const [, d, h, min, s] = m;
  return (
    Number(d ?? 0) * UNIT_MS.d +
    Number(h ?? 0) * UNIT_MS.h +
    Number(min ?? 0) * UNIT_MS.m +
    Number(s ?? 0) * UNIT_MS.s
  );
};

/** The shortest text `durationMs` reads back as `ms` (whole seconds). */
export const formatDuration = (ms: number): string => {
  let rest = Math.round(ms / 1000);
  if (rest === 0) return '0s';
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
};

/** A duration as people write it: `90s`, `15m`, `1h30m`, `7d` (days, hours, minutes, seconds, in that order). */
export const Duration = z
  .string()
  .max(32)
  .refine((s) => durationMs(s) !== undefined, 'must be a duration like 90s, 15m, 1h30m or 7d');

/** A duration of at least `minMs`. */
export const DurationAtLeast = (minMs: number) =>
  Duration.refine((s) => (durationMs(s) ?? 0) >= minMs, `must be at least ${formatDuration(minMs)}`);
