/**
 * A read worker: its own connection to the graph file (WAL lets it read while
 * the apply worker writes) and its own plan cache. Runs only read statements:
 * those the main thread hands over, and, with a read lane, those that arrive
 * on the lane's own query stream (api/read-lane.ts).
 *
 * Every statement runs under the node's memory budget and its own deadline
 * (the engine stops it with MEMORY_LIMIT or TIMEOUT). As a last line of
 * defence the worker says which statement it is running, and until when, in
 * a shared slot (read-slot.ts): the main thread's watchdog stops a worker
 * that overruns a deadline by far, or runs out of heap, and blames exactly
 * that statement (host/read-pool.ts). It lives in api/ because it runs a read lane, an API server of its own.
 */
import { randomBytes } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { GraphEngine } from '../graph/engine.js';
import { fromJson } from '../../shared/gql/values.js';
import type { ValueMap } from '../../shared/gql/values.js';
import { paramsFromJson, statsToJson } from './wire.js';
import { ReadLane } from './read-lane.js';
import { serveCalls } from '../replication/worker-rpc.js';
import { toWireRows } from '../replication/state-machine.js';
import type { SerializedResult } from '../replication/state-machine.js';
import { LANE_READ, ReadSlot } from '../host/read-slot.js';
import type { ReadCall, ReadWorkerData } from '../host/read-protocol.js';

const { graphPath, lane, memoryBudget, slot: slotBuffer } = workerData as ReadWorkerData;
const slot = new ReadSlot(slotBuffer);
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
  slot.running(call.id, call.deadline);
  try {
    // Converted and checked here (integers beyond 64 bits: BAD_REQUEST), not on the main thread.
    const params = paramsFromJson(call.params);
    views = toViews(call.views);
    const result = engine.execute(call.query, params, { now: call.now, seed: call.seed }, { readOnly: true, deadline: call.deadline, memoryBudget });
    const rows = JSON.stringify(toWireRows(result.columns, result.rows));
    return { kind: result.kind, json: `"columns":${JSON.stringify(result.columns)},"rows":${rows},"stats":${JSON.stringify(statsToJson(result.stats))}` };
  } finally {
    slot.idle();
  }
}

if (lane !== undefined) {
  // Seeds of this worker's own reads: a per-worker random prefix and a counter (as the main thread's).
  const seedPrefix = randomBytes(6).toString('hex');
  let seedCounter = 0;
  ReadLane.start({
    ...lane,
    read: (query, params, deadline) => read({ id: LANE_READ, query, params, now: Date.now(), seed: `${seedPrefix}${(++seedCounter).toString(16)}`, deadline }),
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
