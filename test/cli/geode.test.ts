import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';

const GEODE = fileURLToPath(new URL('../../bin/geode.js', import.meta.url));
/** Generous bound: starting tsx and opening SQLite on a loaded 2-core machine. */
const START_TIMEOUT_MS = 30_000;

interface Started {
  child: ChildProcess;
  nodes: { id: string; url: string }[];
  stderr: () => string;
}

function run(args: string[]): { child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [GEODE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exit };
}

/** Spawns `geode ...args` and waits for its `{"nodes": [...]}` startup line. */
async function start(t: Test, args: string[]): Promise<Started & { exit: ReturnType<typeof run>['exit'] }> {
  const { child, exit } = run(args);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const nodes = await new Promise<Started['nodes']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line; stderr:\n${stderr}`)), START_TIMEOUT_MS);
    lines.on('line', (line) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { nodes: Started['nodes'] }).nodes);
      } catch {
        reject(new Error(`startup line is not JSON: ${line}`));
      }
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting; stderr:\n${stderr}`));
    });
  });
  return { child, nodes, stderr: () => stderr, exit };
}

async function query(url: string, query: string, params?: Record<string, unknown>) {
  const response = await fetch(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params === undefined ? { query } : { query, params }),
  });
  return { status: response.status, body: (await response.json()) as { rows: Record<string, unknown>[] } };
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('geode dev serves the seed queries and exits 0 on SIGINT', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const { child, nodes, exit, stderr } = await start(t, ['dev', '--port', '0', '--data-dir', dataDir]);
  t.equal(nodes.length, 1);
  t.match(nodes[0], { id: 'node1', url: /^http:\/\/127\.0\.0\.1:\d+$/ });
  const url = nodes[0]!.url;
  t.ok(existsSync(join(dataDir, 'node1', 'graph.db')), 'database created under the data dir');

  t.equal((await query(url, 'CREATE (n:Node {id: $id})', { id: 1 })).status, 200);
  t.same((await query(url, 'MATCH (n:Node) RETURN COUNT(n) AS total')).body.rows, [{ total: 1 }]);
  await query(url, 'CREATE (u:User {id: $id, name: $name, email: $email})', { id: 123, name: 'Alice', email: 'a@x.io' });
  const user = await query(url, 'MATCH (u:User {id: $id}) RETURN u', { id: 123 });
  t.match(user.body.rows, [{ u: { labels: ['User'], properties: { id: 123, name: 'Alice' } } }]);
  const now = await query(url, 'RETURN datetime() AS now');
  t.match(now.body.rows[0]?.['now'], /^\d{4}-\d\d-\d\dT/);
  const alter = await query(
    url,
    'ALTER GRAPH ADD PROPERTY User.verified BOOLEAN DEFAULT false\n  WITH MIGRATION STRATEGY online',
  );
  t.equal(alter.status, 200, JSON.stringify(alter.body));
  const index = await query(url, 'CREATE INDEX ON :User(email) WITH MODE online');
  t.equal(index.status, 200, JSON.stringify(index.body));
  const verified = await query(url, 'MATCH (u:User {email: $email}) RETURN u.verified AS verified', { email: 'a@x.io' });
  t.same(verified.body.rows, [{ verified: false }]);

  child.kill('SIGINT');
  t.same(await exit, { code: 0, signal: null }, stderr());
});

t.test('geode node --config runs a seed-style node and exits 0 on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(
    config,
    [
      '# Primary node',
      'node1:',
      '  role: primary',
      '  listen: 127.0.0.1:0',
      '  cluster_peers:',
      '    - node2:3141',
      '    - node3:3141',
      '  replication_mode: synchronous',
      '  quorum_size: 2',
      '  data_dir: state',
      '  region: us-east-1',
      '',
    ].join('\n'),
  );
  const { child, nodes, exit, stderr } = await start(t, ['node', '--config', config]);
  const url = nodes[0]!.url;
  const health = await fetch(`${url}/healthz`);
  t.same(await health.json(), { status: 'ok', node: 'node1', region: 'us-east-1' });
  t.equal((await fetch(`${url}/readyz`)).status, 200);
  t.same((await query(url, 'RETURN 1 AS one')).body.rows, [{ one: 1 }]);
  t.ok(existsSync(join(dir, 'state', 'graph.db')), 'data_dir resolved against the config file');
  child.kill('SIGTERM');
  t.same(await exit, { code: 0, signal: null }, stderr());
});

t.test('geode node refuses a bad config with the key path and exit 2', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(config, 'node1:\n  listen: 127.0.0.1:0\n  replcation_mode: synchronous\n');
  const { child, exit } = run(['node', '--config', config]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await exit).code, 2);
  t.match(stderr, /node1\.replcation_mode: unknown key/);
});

t.test('an unknown command exits 2 with usage; --help exits 0', async (t) => {
  const unknown = run(['frobnicate']);
  let stderr = '';
  unknown.child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await unknown.exit).code, 2);
  t.match(stderr, /unknown command: frobnicate[\s\S]*Usage: geode/);

  const help = run(['--help']);
  let stdout = '';
  help.child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  t.equal((await help.exit).code, 0);
  t.match(stdout, /Usage: geode <command>/);

  const badOption = run(['dev', '--prot', '1']);
  t.equal((await badOption.exit).code, 2);
});
