/**
 * Runs scenarios on worker threads, one scenario per message. A scenario that
 * runs past the hang limit has its worker terminated and replaced, so a
 * non-terminating query fails that scenario instead of stalling the run.
 */
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../../../storage-node/replication/worker-rpc.js';
import type { TckScenario } from './features.js';
import type { ScenarioResult } from './runner.js';
import type { FromWorker, ToWorker } from './worker.js';

export interface PoolOptions {
  workers: number;
  /** Wall-clock limit for one scenario (all its queries), in ms. */
  hangMs: number;
  onResult?: (result: ScenarioResult) => void;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url);

export class PoolStartError extends Error {}

export function runInPool(scenarios: TckScenario[], options: PoolOptions): Promise<ScenarioResult[]> {
  return new Promise((resolve, reject) => {
    const results: Array<ScenarioResult | undefined> = new Array(scenarios.length);
    let next = 0;
    let done = 0;
    let finished = false;
    const live = new Set<Slot>();

    interface Slot {
      worker: Worker;
      ready: boolean;
      current: number | undefined;
      startedAt: number;
    }

    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      for (const slot of live) void slot.worker.terminate();
      live.clear();
      if (err) reject(err);
      else resolve(results.map((r, i) => r ?? crashResult(scenarios[i] as TckScenario, 'no result')));
    };

    const record = (index: number, result: ScenarioResult): void => {
      if (results[index] !== undefined) return;
      results[index] = result;
      done++;
      options.onResult?.(result);
    };

    const dispatch = (slot: Slot): void => {
      if (next >= scenarios.length) {
        slot.current = undefined;
        if (done === scenarios.length) finish();
        return;
      }
      const index = next++;
      slot.current = index;
      slot.startedAt = Date.now();
      const msg: ToWorker = { type: 'run', scenario: scenarios[index] as TckScenario };
      slot.worker.postMessage(msg);
    };

    const spawn = (): void => {
      // Engine output goes to stderr so that stdout stays clean for --json.
      const worker = startTsWorker(WORKER_URL, null, { stdout: true });
      worker.stdout.pipe(process.stderr, { end: false });
      const slot: Slot = { worker, ready: false, current: undefined, startedAt: 0 };
      live.add(slot);
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          slot.ready = true;
          dispatch(slot);
        } else if (msg.type === 'fatal') {
          finish(new Error(msg.message));
        } else if (slot.current !== undefined) {
          record(slot.current, msg.result);
          dispatch(slot);
        }
      });
      const lost = (why: string): void => {
        if (finished || !live.has(slot)) return;
        live.delete(slot);
        if (!slot.ready) {
          finish(new PoolStartError(`TCK worker failed to start: ${why}`));
          return;
        }
        if (slot.current !== undefined) {
          const scenario = scenarios[slot.current] as TckScenario;
          record(slot.current, crashResult(scenario, `worker died: ${why}`));
        }
        if (done === scenarios.length) finish();
        else spawn();
      };
      worker.on('error', (err) => lost(err.message));
      worker.on('exit', (code) => lost(`exit code ${code}`));
    };

    const watchdog = setInterval(() => {
      const now = Date.now();
      for (const slot of [...live]) {
        if (slot.current === undefined || now - slot.startedAt <= options.hangMs) continue;
        const index = slot.current;
        const scenario = scenarios[index] as TckScenario;
        live.delete(slot);
        void slot.worker.terminate();
        record(index, {
          id: scenario.id,
          tier: scenario.tier,
          passed: false,
          reason: `hang: no verdict after ${options.hangMs} ms (worker terminated)`,
          category: 'hang',
          side: 'engine',
        });
        if (done === scenarios.length) finish();
        else spawn();
      }
    }, 250);

    if (scenarios.length === 0) {
      finish();
      return;
    }
    for (let i = 0; i < Math.min(options.workers, scenarios.length); i++) spawn();
  });
}

function crashResult(scenario: TckScenario, reason: string): ScenarioResult {
  return {
    id: scenario.id,
    tier: scenario.tier,
    passed: false,
    reason: `runner crash: ${reason}`,
    category: 'runner crash',
    side: 'runner',
  };
}
