import type { Client } from '@temporalio/client';
import type { SiteStep } from '../domain/site-link.ts';
import { decodeRawPayload } from '../runtime/payload-codec.ts';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];

/**
 * A step a workflow scheduled, as its history records it: an activity (the control plane's
 * own, or a site's before the site link moved onto Nexus), or a site step over the site link
 * (a Nexus operation named after the site activity, whose input carries the activity's
 * arguments). `input` decodes the step's first argument through the client's codec.
 */
export type ScheduledStep = { eventId: string; name: string; input: <T>() => Promise<T | undefined> };

export const scheduledStep = (temporal: Client, event: HistoryEvent): ScheduledStep | undefined => {
  const eventId = String(event.eventId);
  const activity = event.activityTaskScheduledEventAttributes;
  if (activity) {
    return {
      eventId,
      name: activity.activityType?.name ?? '',
      input: <T>() => decodeRawPayload<T>(temporal, activity.input?.payloads?.[0]),
    };
  }
  const operation = event.nexusOperationScheduledEventAttributes;
  if (operation) {
    return {
      eventId,
      name: operation.operation ?? '',
      input: async <T>() =>
        (await decodeRawPayload<SiteStep>(temporal, operation.input))?.args[0] as T | undefined,
    };
  }
  return undefined;
};

/** The scheduled step this event completes (successfully), if it is such an event. */
export const completedStepId = (event: HistoryEvent): string | undefined => {
  const id =
    event.activityTaskCompletedEventAttributes?.scheduledEventId ??
    event.nexusOperationCompletedEventAttributes?.scheduledEventId;
  return id === undefined || id === null ? undefined : String(id);
};
