import { isCancellation, proxyActivities } from '@temporalio/workflow';
import { failureMessage } from '../../domain/errors.ts';
import type { SiteBatch, SiteBatchResult, SiteOutcome } from '../../domain/site-link.ts';
import { stepActivityOptions } from './step.ts';

/**
 * Many steps of one kind the control plane asked of this site in one operation
 * (workflows/site-link.ts: siteBatch), run here at most `maxParallel` at once, each with the
 * caller's timeouts and retries. Each step's failure is its own outcome; a cancelled batch
 * cancels the steps still running.
 */
export async function siteBatchWorkflow(input: SiteBatch): Promise<SiteBatchResult> {
  const run = proxyActivities<Record<string, (arg: unknown) => Promise<unknown>>>(
    stepActivityOptions(input.options),
  )[input.operation];
  if (!run) throw new Error(`no site step ${input.operation}`);
  const outcomes: SiteOutcome[] = new Array<SiteOutcome>(input.inputs.length);
  let next = 0;
  const lane = async () => {
    while (next < input.inputs.length) {
      const i = next++;
      try {
        outcomes[i] = { ok: true, result: await run(input.inputs[i]) };
      } catch (err) {
        if (isCancellation(err)) throw err;
        outcomes[i] = { ok: false, error: failureMessage(err) };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.maxParallel, input.inputs.length)) }, lane),
  );
  return { outcomes };
}
