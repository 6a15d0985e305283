import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import protoRoot from '@temporalio/proto/lib/patch-protobuf-root.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { encryptedDataConverter, parseKeyring } from '../../runtime/payload-codec.ts';
import { WORKFLOWS_PATH } from '../../workers/control-worker.ts';
import { SITE_WORKFLOWS_PATH } from '../../workers/site-worker.ts';

/**
 * Determinism, checked by replay rather than only by lint: every recorded history (real runs,
 * see histories/README.md) replays against today's workflow code without a nondeterminism
 * error. A history altered as a code change would alter it does fail, so the check can fail.
 */
const dir = fileURLToPath(new URL('./histories/', import.meta.url));
const keysPath = join(dir, 'payload-keys.json');
const dataConverter = encryptedDataConverter(parseKeyring(readFileSync(keysPath, 'utf8'), keysPath));
const recorded = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'payload-keys.json')
  .sort();

// Temporal's JSON history format, read with the protobufjs copy that @temporalio/proto's types
// belong to (the SDK's own reader loads another copy in this install and rejects the types).
const protoRequire = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const { fromJson } = protoRequire('protobufjs/ext/protojson') as {
  fromJson: (type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }) => unknown;
};
// The generated module's typings leave out the reflection root it is at run time.
const root = protoRoot.patchProtobufRoot(proto) as unknown as { lookupType: (name: string) => unknown };
const historyType = root.lookupType('temporal.api.history.v1.History');
type HistoryJson = { events: Record<string, unknown>[] };
const readJson = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryJson;
/** The history, and the workflow id it ran under (child and activity ids derive from it). */
const replayable = (json: HistoryJson) => {
  const started = json.events[0]?.workflowExecutionStartedEventAttributes as
    { workflowId?: string } | undefined;
  return {
    history: fromJson(historyType, json, { ignoreUnknownFields: true }),
    workflowId: started?.workflowId ?? 'replay',
  };
};
/** `at-site-*.json` ran in a site's namespace, on the site's workflows; the rest on the control's. */
const replay = async (name: string, json: HistoryJson) => {
  const { history, workflowId } = replayable(json);
  const workflowsPath = name.startsWith('at-site-') ? SITE_WORKFLOWS_PATH : WORKFLOWS_PATH;
  await Worker.runReplayHistory({ workflowsPath, dataConverter, replayName: name }, history, workflowId);
};

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed in this jest worker.
}

describe('recorded histories replay on the current workflow code', () => {
  it('has histories of the main run kinds to replay', () => {
    expect(recorded).toEqual(
      expect.arrayContaining([
        // From before the site link (activities on the site's queue), and over it (Nexus).
        'bulk-deploy-rolled-back.json',
        'deploy-shard.json',
        'ping-site.json',
        'linked-bulk-deploy-rolled-back.json',
        'linked-deploy-shard.json',
        'linked-ping-site.json',
        'at-site-batch-deploy.json',
      ]),
    );
  });

  it.each(recorded)(
    '%s replays without a nondeterminism error',
    async (file) => replay(file, readJson(file)),
    60_000,
  );

  it('fails a history whose run called another activity than the code does', async () => {
    const altered = readJson('ping-site.json');
    const scheduled = altered.events.find((e) => 'activityTaskScheduledEventAttributes' in e) as {
      activityTaskScheduledEventAttributes: { activityType: { name: string } };
    };
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'somethingElse';
    await expect(replay('altered', altered)).rejects.toBeInstanceOf(DeterminismViolationError);
  }, 60_000);

  it('fails a history whose run asked its site for another operation than the code does', async () => {
    const altered = readJson('linked-ping-site.json');
    // The ping went to the site as an activity on its queue, as before the site link.
    const scheduled = altered.events.find((e) => 'nexusOperationScheduledEventAttributes' in e) as Record<
      string,
      unknown
    >;
    delete scheduled.nexusOperationScheduledEventAttributes;
    scheduled.eventType = 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED';
    scheduled.activityTaskScheduledEventAttributes = {
      activityId: '2',
      activityType: { name: 'pingSite' },
      taskQueue: { name: 'site.local', kind: 'TASK_QUEUE_KIND_NORMAL' },
    };
    await expect(replay('altered-linked', altered)).rejects.toBeInstanceOf(DeterminismViolationError);
  }, 60_000);
});
