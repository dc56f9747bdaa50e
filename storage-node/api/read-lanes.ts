/**
 * The main thread's side of the read lanes (read-lane.ts): it answers the
 * requests a lane forwards through the same runner as the HTTP route and the
 * main thread's query stream, and adds the lanes' counts and durations to the
 * node's query metrics. It also sends each lane the API's limits.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LaneToMain, MainToLane } from '../host/read-protocol.js';
import { toWireError } from './errors.js';
import type { NodeMetrics } from './metrics.js';
import type { QueryRunner } from './routes/query.js';
import type { StreamReply } from './query-stream.js';

export interface LaneHostOptions {
  run: QueryRunner;
  metrics: NodeMetrics;
  bodyLimit: number;
  defaultTimeoutMs: number;
  onError: (error: unknown) => void;
}

/** The function a StorageNode hands each lane's channel to (StorageNode.attachReadLanes). */
export function laneHost(options: LaneHostOptions): (channel: MessagePort) => void {
  const { run, metrics, onError } = options;
  return (channel) => {
    const limits: MainToLane = { kind: 'limits', bodyLimit: options.bodyLimit, defaultTimeoutMs: options.defaultTimeoutMs };
    channel.postMessage(limits);
    // Answers finished in one turn go back in one message.
    let answers: ({ id: number } & StreamReply)[] = [];
    const reply = (answer: { id: number } & StreamReply): void => {
      answers.push(answer);
      if (answers.length > 1) return;
      setImmediate(() => {
        const batch = answers;
        answers = [];
        channel.postMessage({ kind: 'answers', answers: batch } satisfies MainToLane);
      });
    };
    channel.on('message', (message: LaneToMain) => {
      switch (message.kind) {
        case 'forward':
          for (const { id, body } of message.calls) {
            run(body).then(
              (text) => reply({ id, status: 200, body: text }),
              (error: unknown) => {
                const wire = toWireError(error);
                if (wire.internal) onError(error);
                reply({ id, status: wire.status, body: JSON.stringify(wire.body) });
              },
            );
          }
          break;
        case 'metrics':
          for (const [outcome, n] of message.counts) metrics.queriesTotal.inc({ kind: 'read', outcome }, n);
          for (const seconds of message.seconds) metrics.queryDurationSeconds.observe({ kind: 'read' }, seconds);
          break;
        case 'error':
          onError(new Error(message.message));
          break;
        case 'listening':
          break;
      }
    });
  };
}
