import type { Client } from '@temporalio/client';
import type { SiteBatch, SiteBatchResult, SiteStep } from '../domain/site-link.ts';
import { decodeRawPayload } from '../runtime/payload-codec.ts';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];

/** One site step a workflow asked for: its argument, and whether it completed. */
export type RecordedStep<T> = { input: T | undefined; completed: boolean };

/**
 * Every step of this kind a workflow asked of its sites, as its history records them (payloads
 * decoded through the client's codec): an activity (runs from before the site link), a Nexus
 * operation named after the site activity, or one step of a batch (`siteBatch`), which
 * completed if the batch's outcome for it is a success.
 */
export const recordedSiteSteps = async <T>(
  temporal: Client,
  events: readonly HistoryEvent[],
  operation: string,
): Promise<RecordedStep<T>[]> => {
  const steps: RecordedStep<T>[] = [];
  const byEvent = new Map<string, { steps: RecordedStep<T>[]; batch: boolean }>();
  for (const e of events) {
    const id = String(e.eventId);
    const activity = e.activityTaskScheduledEventAttributes;
    const nexus = e.nexusOperationScheduledEventAttributes;
    let scheduled: { inputs: (T | undefined)[]; batch: boolean } | undefined;
    if (activity?.activityType?.name === operation) {
      scheduled = {
        inputs: [await decodeRawPayload<T>(temporal, activity.input?.payloads?.[0])],
        batch: false,
      };
    } else if (nexus?.operation === operation) {
      const step = await decodeRawPayload<SiteStep>(temporal, nexus.input);
      scheduled = { inputs: [step?.args[0] as T | undefined], batch: false };
    } else if (nexus?.operation === 'siteBatch') {
      const batch = await decodeRawPayload<SiteBatch>(temporal, nexus.input);
      if (batch?.operation === operation) scheduled = { inputs: batch.inputs as T[], batch: true };
    }
    if (scheduled) {
      const recorded = scheduled.inputs.map((input) => ({ input, completed: false }));
      steps.push(...recorded);
      byEvent.set(id, { steps: recorded, batch: scheduled.batch });
    }
    const activityDone = e.activityTaskCompletedEventAttributes;
    const nexusDone = e.nexusOperationCompletedEventAttributes;
    const done = byEvent.get(String(activityDone?.scheduledEventId ?? nexusDone?.scheduledEventId));
    if (!done) continue;
    if (!done.batch) {
      for (const s of done.steps) s.completed = true;
      continue;
    }
    const result = await decodeRawPayload<SiteBatchResult>(temporal, nexusDone?.result);
    done.steps.forEach((s, i) => {
      s.completed = result?.outcomes[i]?.ok === true;
    });
  }
  return steps;
};
