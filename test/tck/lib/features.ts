/**
 * Loads the openCypher TCK feature files into executable scenarios: one per
 * Scenario and one per Examples row of a Scenario Outline (Gherkin's pickles).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Gherkin from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import type { GherkinDocument, PickleStep } from '@cucumber/messages';

export type Tier = 1 | 2 | 3;

export interface TckStep {
  text: string;
  docString?: string;
  table?: string[][];
}

export interface TckScenario {
  /** Stable id: `<path>: <FeatureShortName> <scenario name>[ #<example row, 1-based>]`. */
  id: string;
  /** Feature file path relative to the features directory, with `/` separators. */
  file: string;
  tier: Tier;
  name: string;
  tags: string[];
  steps: TckStep[];
}

/** Repo root, two levels above test/tck/lib. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The features directory: `$TCK_DIR`, else `../shared/tck/features` beside the checkout. */
export function featuresDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['TCK_DIR'];
  return configured !== undefined && configured !== ''
    ? resolve(REPO_ROOT, configured)
    : resolve(REPO_ROOT, '..', 'shared', 'tck', 'features');
}

export class MissingFeaturesError extends Error {
  constructor(readonly dir: string) {
    super(`TCK features not found at ${dir} (set TCK_DIR to the openCypher tck/features directory)`);
    this.name = 'MissingFeaturesError';
  }
}

const TIER1 = [
  'clauses/create/',
  'clauses/delete/',
  'clauses/set/',
  'clauses/return/',
  'clauses/return-orderby/',
  'clauses/return-skip-limit/',
  'clauses/match/Match1.feature',
  'clauses/match/Match2.feature',
  'clauses/match/Match3.feature',
  'clauses/match/Match8.feature',
  'clauses/match-where/MatchWhere1.feature',
  'clauses/match-where/MatchWhere2.feature',
  'clauses/match-where/MatchWhere3.feature',
  'clauses/match-where/MatchWhere4.feature',
  'clauses/match-where/MatchWhere5.feature',
  'expressions/aggregation/',
  'expressions/boolean/',
  'expressions/comparison/',
  'expressions/literals/',
  'expressions/mathematical/',
  'expressions/null/',
];

const TIER2 = [
  'clauses/merge/',
  'clauses/with/',
  'clauses/with-where/',
  'clauses/with-orderBy/',
  'clauses/with-skip-limit/',
  'clauses/unwind/',
  'clauses/remove/',
  'clauses/match/Match4.feature',
  'clauses/match/Match5.feature',
  'clauses/match/Match6.feature',
  'clauses/match/Match7.feature',
  'clauses/match-where/MatchWhere6.feature',
  'expressions/string/',
  'expressions/list/',
  'expressions/map/',
  'expressions/graph/',
  'expressions/path/',
  'expressions/conditional/',
  'expressions/precedence/',
  'expressions/typeConversion/',
];

/** Tier of a feature file (path relative to the features directory); anything unlisted is tier 3. */
export function tierOf(file: string): Tier {
  const matches = (entry: string): boolean => (entry.endsWith('/') ? file.startsWith(entry) : file === entry);
  if (TIER1.some(matches)) return 1;
  if (TIER2.some(matches)) return 2;
  return 3;
}

function listFeatureFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d).sort()) {
      const full = join(d, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (entry.endsWith('.feature')) out.push(full);
    }
  };
  walk(dir);
  return out;
}

/** Parses every feature file under `dir`; throws MissingFeaturesError if it does not exist. */
export function loadScenarios(dir: string = featuresDir()): TckScenario[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new MissingFeaturesError(dir);
  const scenarios: TckScenario[] = [];
  for (const path of listFeatureFiles(dir)) {
    const file = relative(dir, path).split(sep).join('/');
    scenarios.push(...parseFeature(readFileSync(path, 'utf8'), file));
  }
  return scenarios;
}

/** Turns one feature file's text into scenarios; `file` is its path relative to the features directory. */
export function parseFeature(source: string, file: string): TckScenario[] {
  const newId = IdGenerator.incrementing();
  const parser = new Gherkin.Parser(new Gherkin.AstBuilder(newId), new Gherkin.GherkinClassicTokenMatcher());
  const document: GherkinDocument = parser.parse(source);
  const feature = document.feature;
  if (!feature) return [];
  // "Match1 - Match nodes" -> "Match1".
  const shortName = (feature.name.split(' - ')[0] ?? feature.name).trim();

  // Row id -> 1-based index among all Examples rows of its outline.
  const rowIndex = new Map<string, number>();
  for (const child of feature.children) {
    const scenario = child.scenario;
    if (!scenario) continue;
    let n = 0;
    for (const examples of scenario.examples) for (const row of examples.tableBody) rowIndex.set(row.id, ++n);
  }

  const tier = tierOf(file);
  const seen = new Map<string, number>();
  const pickles = Gherkin.compile(document, file, newId);
  return pickles.map((pickle) => {
    const rowId = pickle.astNodeIds[1];
    const row = rowId !== undefined ? rowIndex.get(rowId) : undefined;
    let id = `${file}: ${shortName} ${pickle.name}${row !== undefined ? ` #${row}` : ''}`;
    // Keep ids unique even if a file repeats a scenario name.
    const count = (seen.get(id) ?? 0) + 1;
    seen.set(id, count);
    if (count > 1) id += ` (${count})`;
    return {
      id,
      file,
      tier,
      name: pickle.name,
      tags: pickle.tags.map((t) => t.name),
      steps: pickle.steps.map(toStep),
    };
  });
}

function toStep(step: PickleStep): TckStep {
  const out: TckStep = { text: step.text };
  const doc = step.argument?.docString;
  if (doc) out.docString = doc.content;
  const table = step.argument?.dataTable;
  if (table) out.table = table.rows.map((r) => r.cells.map((c) => c.value));
  return out;
}
