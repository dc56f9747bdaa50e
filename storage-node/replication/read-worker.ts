/**
 * A read worker: its own connection to the graph file (WAL lets it read while
 * the apply worker writes) and its own plan cache. Runs only read statements.
 */
import { workerData } from 'node:worker_threads';
import { GraphEngine } from '../graph/engine.js';
import { fromJson } from '../../shared/gql/values.js';
import type { ValueMap } from '../../shared/gql/values.js';
import { serveCalls } from './worker-rpc.js';
import { toWireRows } from './state-machine.js';
import type { WireResult } from './state-machine.js';

export interface ReadWorkerData {
  graphPath: string;
}

export interface ReadCall {
  query: string;
  params: Record<string, unknown>;
  now: number;
  seed: string;
  deadline: number;
}

const { graphPath } = workerData as ReadWorkerData;
let engine = GraphEngine.open(graphPath);

serveCalls({
  read: (call: ReadCall): WireResult => {
    const params: ValueMap = Object.create(null) as ValueMap;
    for (const [name, json] of Object.entries(call.params)) params[name] = fromJson(json);
    const result = engine.execute(call.query, params, { now: call.now, seed: call.seed }, { readOnly: true, deadline: call.deadline });
    return { columns: result.columns, rows: toWireRows(result.columns, result.rows), stats: result.stats, kind: result.kind };
  },
  refresh: () => engine.refreshSchema(),
  reopen: () => {
    engine.close();
    engine = GraphEngine.open(graphPath);
  },
});
