// Guards the architecture of DESIGN.md: dependency direction between the
// top-level folders, a pure Raft core, and a README in every source folder.
import t from 'tap';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sourceRoots = ['shared', 'storage-node', 'gateway', 'cli'];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function sourceDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out = [dir];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceDirs(path));
  }
  return out;
}

/** Relative import specifiers of a file, resolved to repo-relative paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] ?? '');
  return specs.map((s) => relative(root, resolve(dirname(file), s)));
}

const topOf = (repoPath: string): string => repoPath.split(sep)[0] ?? '';

t.test('shared/ imports nothing of ours outside shared/', async (t) => {
  for (const file of sourceFiles(join(root, 'shared'))) {
    for (const target of relativeImports(file)) {
      t.equal(topOf(target), 'shared', `${relative(root, file)} imports ${target}`);
    }
  }
});

t.test('storage-node/ and gateway/ never import each other or cli/', async (t) => {
  for (const [from, forbidden] of [
    ['storage-node', ['gateway', 'cli']],
    ['gateway', ['storage-node', 'cli']],
  ] as const) {
    for (const file of sourceFiles(join(root, from))) {
      for (const target of relativeImports(file)) {
        t.notOk((forbidden as readonly string[]).includes(topOf(target)), `${relative(root, file)} imports ${target}`);
      }
    }
  }
});

t.test('nothing below the node API imports it: api/ reaches the node only through interfaces it declares', async (t) => {
  const api = join('storage-node', 'api');
  const below = ['host', 'replication', 'raft', 'log', 'transport', 'graph'].map((d) => join(root, 'storage-node', d));
  for (const file of [...below.flatMap((d) => sourceFiles(d)), join(root, 'storage-node', 'node.ts')]) {
    for (const target of relativeImports(file)) t.notOk(target.startsWith(api + sep), `${relative(root, file)} imports ${target}`);
  }
});

t.test('the Raft core does no IO and reads no clock or global randomness', async (t) => {
  const files = sourceFiles(join(root, 'storage-node', 'raft'));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const name = relative(root, file);
    t.notMatch(text, /from\s+['"]node:/, `${name} imports a node: module`);
    t.notMatch(text, /Date\.now|new Date\(|Math\.random|setTimeout|setInterval|performance\.now/, `${name} uses time or randomness`);
  }
});

t.test('every source folder, and test/ and bench/, has a README.md', async (t) => {
  const dirs = sourceRoots.flatMap((top) => sourceDirs(join(root, top)));
  for (const dir of [...dirs, join(root, 'test'), join(root, 'bench')]) {
    if (!existsSync(dir)) continue;
    t.ok(existsSync(join(dir, 'README.md')), `${relative(root, dir)}/README.md exists`);
  }
});
