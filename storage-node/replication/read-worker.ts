/**
 * A read worker: its own connection to the graph file (WAL lets it read while
 * the apply worker writes) and its own plan cache. Runs only read statements.
 */
import { workerData } from 'node:worker_threads';
import { GraphEngine } from '../graph/engine.js';
import { fromJson } from '../../shared/gql/values.js';
import type { ValueMap } from '../../shared/gql/values.js';
import { paramsFromJson, statsToJson } from '../api/wire.js';
import { serveCalls } from './worker-rpc.js';
import { toWireRows } from './state-machine.js';
import type { SerializedResult } from './state-machine.js';

export interface ReadWorkerData {
  graphPath: string;
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

const { graphPath } = workerData as ReadWorkerData;
let views: Record<string, ValueMap[]> = {};
const openEngine = (): GraphEngine => GraphEngine.open(graphPath, { systemViews: () => views });
let engine = openEngine();

function toViews(json: Record<string, Record<string, unknown>[]> | undefined): Record<string, ValueMap[]> {
  const out: Record<string, ValueMap[]> = {};
  for (const [name, rows] of Object.entries(json ?? {})) out[name] = rows.map((row) => fromJson(row) as ValueMap);
  return out;
}

serveCalls({
  read: (call: ReadCall): SerializedResult => {
    // Converted and checked here (integers beyond 64 bits: BAD_REQUEST), not on the main thread.
    const params = paramsFromJson(call.params);
    views = toViews(call.views);
    const result = engine.execute(call.query, params, { now: call.now, seed: call.seed }, { readOnly: true, deadline: call.deadline });
    const rows = JSON.stringify(toWireRows(result.columns, result.rows));
    return { kind: result.kind, json: `"columns":${JSON.stringify(result.columns)},"rows":${rows},"stats":${JSON.stringify(statsToJson(result.stats))}` };
  },
  refresh: () => engine.refreshSchema(),
  reopen: () => {
    engine.close();
    engine = openEngine();
  },
});
