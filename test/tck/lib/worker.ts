/**
 * Worker thread of the TCK pool: loads the engine once, then runs one scenario
 * per message so the parent always knows which scenario is running.
 */
import { parentPort } from 'node:worker_threads';
import { loadEngine } from './engine.js';
import type { TckScenario } from './features.js';
import { runScenario } from './runner.js';

export type ToWorker = { type: 'run'; scenario: TckScenario };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'result'; result: ReturnType<typeof runScenario> };

const port = parentPort;
if (port) {
  loadEngine().then(
    (factory) => {
      port.on('message', (msg: ToWorker) => {
        const reply: FromWorker = { type: 'result', result: runScenario(msg.scenario, factory) };
        port.postMessage(reply);
      });
      port.postMessage({ type: 'ready' } satisfies FromWorker);
    },
    (err: unknown) => {
      port.postMessage({ type: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    },
  );
}
