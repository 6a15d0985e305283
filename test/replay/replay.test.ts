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
const replay = async (name: string, json: HistoryJson) => {
  const { history, workflowId } = replayable(json);
  await Worker.runReplayHistory(
    { workflowsPath: WORKFLOWS_PATH, dataConverter, replayName: name },
    history,
    workflowId,
  );
};

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed in this jest worker.
}

describe('recorded histories replay on the current workflow code', () => {
  it('has histories of the main run kinds to replay', () => {
    expect(recorded).toEqual(
      expect.arrayContaining(['bulk-deploy-rolled-back.json', 'deploy-shard.json', 'ping-site.json']),
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
});
