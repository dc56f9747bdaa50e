/**
 * A read worker: its own connection to the graph file (WAL lets it read while
 * the apply worker writes) and its own plan cache. Runs only read statements:
 * those the main thread hands over, and, with a read lane, those that arrive
 * on the lane's own query stream (api/read-lane.ts).
 */
import { randomBytes } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import { GraphEngine } from '../graph/engine.js';
import { fromJson } from '../../shared/gql/values.js';
import type { ValueMap } from '../../shared/gql/values.js';
import { paramsFromJson, statsToJson } from '../api/wire.js';
import { ReadLane } from '../api/read-lane.js';
import { serveCalls } from './worker-rpc.js';
import { toWireRows } from './state-machine.js';
import type { SerializedResult } from './state-machine.js';

export interface ReadWorkerData {
  graphPath: string;
  /** A read lane to serve (absent: reads come only from the main thread). */
  lane?: { host: string; view: SharedArrayBuffer; channel: MessagePort; node: string };
}

export interface ReadCall {
  query: string;
  params: Record<string, unknown>;
  now: number;
  seed: string;
  deadline: number;
  /** Rows of the `system.*` views for this call, as JSON (the node fills them from its cluster view). */
  views?: Record<string, Record<string, unknown>[]>;
}

const { graphPath, lane } = workerData as ReadWorkerData;
let views: Record<string, ValueMap[]> = {};
const openEngine = (): GraphEngine => GraphEngine.open(graphPath, { systemViews: () => views });
let engine = openEngine();

function toViews(json: Record<string, Record<string, unknown>[]> | undefined): Record<string, ValueMap[]> {
  const out: Record<string, ValueMap[]> = {};
  for (const [name, rows] of Object.entries(json ?? {})) out[name] = rows.map((row) => fromJson(row) as ValueMap);
  return out;
}

/** Runs one read; its result goes back serialized (one string crosses a thread boundary as one copy). */
function read(call: ReadCall): SerializedResult {
  // Converted and checked here (integers beyond 64 bits: BAD_REQUEST), not on the main thread.
  const params = paramsFromJson(call.params);
  views = toViews(call.views);
  const result = engine.execute(call.query, params, { now: call.now, seed: call.seed }, { readOnly: true, deadline: call.deadline });
  const rows = JSON.stringify(toWireRows(result.columns, result.rows));
  return { kind: result.kind, json: `"columns":${JSON.stringify(result.columns)},"rows":${rows},"stats":${JSON.stringify(statsToJson(result.stats))}` };
}

if (lane !== undefined) {
  // Seeds of this worker's own reads: a per-worker random prefix and a counter (as the main thread's).
  const seedPrefix = randomBytes(6).toString('hex');
  let seedCounter = 0;
  ReadLane.start({
    ...lane,
    read: (query, params, deadline) => read({ query, params, now: Date.now(), seed: `${seedPrefix}${(++seedCounter).toString(16)}`, deadline }),
  });
}

serveCalls({
  read,
  refresh: () => engine.refreshSchema(),
  reopen: () => {
    engine.close();
    engine = openEngine();
  },
});
