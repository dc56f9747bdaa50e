/**
 * The graph engine as the runner uses it. Loaded dynamically so that the
 * runner's own machinery works (and reports plainly) before the engine exists.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import type { ExecuteOptions, ExecutionContext, GraphObservation } from '../../../storage-node/graph/types.js';

export interface TckEngine {
  execute(
    query: string,
    params: ValueMap,
    ctx: ExecutionContext,
    options?: ExecuteOptions,
  ): { columns: string[]; rows: Value[][] };
  observe(): GraphObservation;
  close(): void;
}

export interface TckEngineFactory {
  open(path: string): TckEngine;
}

const ENGINE_MODULE = new URL('../../../storage-node/graph/engine.js', import.meta.url).href;

/** The engine module: storage-node/graph/engine.ts, or `$TCK_ENGINE_MODULE` (a path; used by the runner's own tests). */
function engineModule(): string {
  const override = process.env['TCK_ENGINE_MODULE'];
  return override !== undefined && override !== '' ? pathToFileURL(resolve(override)).href : ENGINE_MODULE;
}

/** Imports storage-node/graph/engine.ts and returns its GraphEngine class, or throws a plain reason. */
export async function loadEngine(): Promise<TckEngineFactory> {
  let mod: unknown;
  try {
    mod = await import(engineModule());
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`graph engine not available (storage-node/graph/engine.ts): ${message.split('\n')[0] ?? ''}`);
  }
  const engine = (mod as { GraphEngine?: unknown }).GraphEngine;
  if (typeof engine !== 'function' || typeof (engine as { open?: unknown }).open !== 'function') {
    throw new Error('storage-node/graph/engine.ts does not export class GraphEngine with static open()');
  }
  return engine as unknown as TckEngineFactory;
}
