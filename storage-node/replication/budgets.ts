/**
 * Default per-statement budgets of a node (graph/README.md, "Budgets").
 * Replicated writes never run against a clock: what bounds them must give
 * the same outcome on every replica, so the leader stamps its memory budget
 * into the log entry and every replica counts the same work units.
 */
import { DEFAULT_QUERY_MEMORY_LIMIT_BYTES } from '../../shared/config/node-config.js';
import { DEFAULT_WRITE_WORK_BUDGET } from '../graph/engine.js';

/** Memory a statement may hold (lists, strings, aggregation state, sort buffers, result rows): the config's `query_memory_limit` default. */
export const DEFAULT_STATEMENT_MEMORY_BYTES = DEFAULT_QUERY_MEMORY_LIMIT_BYTES;

/**
 * Deterministic work budget of a replicated statement (work units counted by the engine, the same on
 * every replica): the engine's measured default, under which the worst write shapes run about 1.5 s.
 */
export const APPLY_WORK_BUDGET = DEFAULT_WRITE_WORK_BUDGET;
