/**
 * Runs a selection of TCK scenarios and summarizes them per tier; reads and
 * writes the baseline (sorted ids of passing scenarios).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadEngine, type TckEngineFactory } from './engine.js';
import { REPO_ROOT, loadScenarios, type TckScenario, type Tier } from './features.js';
import { PoolStartError, runInPool } from './pool.js';
import { runScenario, type ScenarioResult } from './runner.js';

export const BASELINE_PATH = join(REPO_ROOT, 'test', 'tck', 'baseline.txt');

export interface Selection {
  tier?: Tier;
  /** Case-sensitive substring of the scenario id. */
  filter?: string;
}

export function selectScenarios(scenarios: TckScenario[], selection: Selection): TckScenario[] {
  return scenarios.filter(
    (s) =>
      (selection.tier === undefined || s.tier === selection.tier) &&
      (selection.filter === undefined || s.id.includes(selection.filter)),
  );
}

export type TierSummary = Record<'tier1' | 'tier2' | 'tier3', { passed: number; total: number }>;

export function summarize(results: ScenarioResult[]): TierSummary {
  const summary: TierSummary = {
    tier1: { passed: 0, total: 0 },
    tier2: { passed: 0, total: 0 },
    tier3: { passed: 0, total: 0 },
  };
  for (const r of results) {
    const bucket = summary[`tier${r.tier}`];
    bucket.total++;
    if (r.passed) bucket.passed++;
  }
  return summary;
}

/** Failure categories, most frequent first, each with a count and an example id. */
export interface FailureCategory {
  category: string;
  side: string;
  count: number;
  example: string;
}

export function categorize(results: ScenarioResult[]): FailureCategory[] {
  const byCategory = new Map<string, FailureCategory>();
  for (const r of results) {
    if (r.passed) continue;
    const category = r.category ?? 'unknown';
    const side = r.side ?? 'engine';
    const key = `${side}\u0000${category}`;
    const entry = byCategory.get(key);
    if (entry) entry.count++;
    else byCategory.set(key, { category, side, count: 1, example: r.id });
  }
  return [...byCategory.values()]
    .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category));
}

export interface SuiteRun {
  results: ScenarioResult[];
  summary: TierSummary;
  elapsedMs: number;
}

export interface RunOptions {
  /** Worker threads; 0 runs on this thread (no hang protection). Default: `$TCK_WORKERS`, else CPU count (max 4). */
  workers?: number;
  /** Per-scenario wall-clock limit before its worker is replaced. */
  hangMs?: number;
  onResult?: (result: ScenarioResult) => void;
}

/** The default per-scenario hang limit: generous next to the 5 s per-query deadline. */
export const HANG_MS = 60_000;

function defaultWorkers(): number {
  const configured = process.env['TCK_WORKERS'];
  if (configured !== undefined && /^\d+$/.test(configured)) return Number(configured);
  return Math.min(4, Math.max(1, availableParallelism()));
}

/** Loads features and engine, then runs the selection on worker threads (or this thread). */
export async function runSuite(selection: Selection = {}, options: RunOptions = {}): Promise<SuiteRun> {
  const started = Date.now();
  const scenarios = selectScenarios(loadScenarios(), selection);
  // Load here too, so a missing engine is reported once and plainly.
  const engine = await loadEngine();
  const workers = Math.min(options.workers ?? defaultWorkers(), scenarios.length);
  let results: ScenarioResult[] | undefined;
  if (workers > 0) {
    try {
      results = await runInPool(scenarios, {
        workers,
        hangMs: options.hangMs ?? HANG_MS,
        ...(options.onResult ? { onResult: options.onResult } : {}),
      });
    } catch (err) {
      // Without worker support (e.g. a loader that workers do not inherit), run here.
      if (!(err instanceof PoolStartError)) throw err;
    }
  }
  if (!results) results = runHere(scenarios, engine, options.onResult);
  return { results, summary: summarize(results), elapsedMs: Date.now() - started };
}

export function runHere(
  scenarios: TckScenario[],
  engine: TckEngineFactory,
  onResult?: (result: ScenarioResult) => void,
): ScenarioResult[] {
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const result = runScenario(scenario, engine);
    results.push(result);
    onResult?.(result);
  }
  return results;
}

export function readBaseline(path: string = BASELINE_PATH): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export function writeBaseline(results: ScenarioResult[], path: string = BASELINE_PATH): number {
  const ids = results
    .filter((r) => r.passed)
    .map((r) => r.id)
    .sort();
  writeFileSync(path, ids.length > 0 ? `${ids.join('\n')}\n` : '');
  return ids.length;
}

/** Baseline ids that did not pass in `results` (including ids no longer present). */
export function regressions(baseline: string[], results: ScenarioResult[]): Array<{ id: string; reason: string }> {
  const byId = new Map(results.map((r) => [r.id, r]));
  const out: Array<{ id: string; reason: string }> = [];
  for (const id of baseline) {
    const r = byId.get(id);
    if (!r) out.push({ id, reason: 'scenario no longer exists' });
    else if (!r.passed) out.push({ id, reason: r.reason ?? 'failed' });
  }
  return out;
}
