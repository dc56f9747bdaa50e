// Hostile statements with real processes, through a gateway and straight to
// each node of a 3-node cluster: huge ranges, lists and strings, collect of
// millions, runaway UNWIND, combinatorial variable-length paths,
// catastrophic regexes, huge writes. Each gets a clear error (or its right
// answer) within its time limit plus a margin; no process dies; nothing a
// refused write touched is changed; the cluster serves normally afterwards
// and every replica holds the same graph.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { getJson, postJson } from '../helpers/http.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';

const TIMEOUT_MS = 2_000;
/** Generous: only catches a hang. A statement must end at its deadline; the margin covers a loaded CI machine. */
const MARGIN_MS = 8_000;

interface Hostile {
  name: string;
  query: string;
  /** Acceptable error codes, or 'ok' with a check of the answer. */
  expect: string[];
  write?: boolean;
}

const HOSTILE: Hostile[] = [
  { name: 'huge range', query: 'RETURN size(range(1, 2000000000)) AS n', expect: ['MEMORY_LIMIT'] },
  { name: 'huge string built by reduce', query: "RETURN size(reduce(s = '', x IN range(1, 3000000) | s + 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')) AS n", expect: ['MEMORY_LIMIT', 'TIMEOUT'] },
  { name: 'quadratic list built by reduce', query: 'RETURN size(reduce(l = [], x IN range(1, 200000) | l + [x])) AS n', expect: ['MEMORY_LIMIT', 'TIMEOUT'] },
  { name: 'collect of millions', query: 'UNWIND range(1, 6000000) AS x RETURN size(collect(x)) AS n', expect: ['MEMORY_LIMIT', 'TIMEOUT'] },
  { name: 'runaway UNWIND', query: 'UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*) AS n', expect: ['TIMEOUT'] },
  { name: 'combinatorial variable-length paths', query: 'MATCH p = (a:K)-[*]-(b:K) RETURN count(p) AS n', expect: ['TIMEOUT', 'MEMORY_LIMIT', 'WORK_LIMIT'] },
  { name: 'catastrophic regex (linear-time engine)', query: "RETURN 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '(a+)+$' AS m", expect: ['ok'] },
  { name: 'regex that needs backtracking', query: "RETURN 'abab' =~ '(ab)\\\\1' AS m", expect: ['ARGUMENT_ERROR'] },
  { name: 'huge write', query: 'UNWIND range(1, 100000000) AS x CREATE (:Junk {x: x})', expect: ['MEMORY_LIMIT', 'WORK_LIMIT'], write: true },
  { name: 'huge property value', query: "CREATE (:Junk {s: reduce(s = '', x IN range(1, 50000000) | s + 'x')})", expect: ['MEMORY_LIMIT', 'WORK_LIMIT'], write: true },
];

t.test('no statement takes down a node, through the gateway or straight to a node', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-hostile-', { nodes: 3 });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const gw = await startGateway(
    parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'hostile-statements-secret', region: 'local', regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } } }, 'test', {}),
  );
  t.teardown(() => gw.close());
  // A clique of 12 nodes: paths of any length between them are countless.
  const clique = await postJson(`${leader.url}/v1/query`, {
    query: 'UNWIND range(1, 12) AS i CREATE (:K {i: i}) WITH count(*) AS made MATCH (a:K), (b:K) WHERE a.i < b.i CREATE (a)-[:E]->(b)',
    timeout_ms: 30_000,
  });
  t.equal(clique.status, 200, 'the clique was written');
  const before = await postJson(`${leader.url}/v1/query`, { query: 'MATCH (n) RETURN count(n) AS n', consistency: 'linearizable' });
  const nodesBefore = (before.body['rows'] as { n: number }[])[0]?.n;

  const targets = [{ name: 'gateway', url: gw.url }, ...cluster.nodes.map((n) => ({ name: n.name, url: n.url }))];
  const wrong: string[] = [];
  const timings: string[] = [];
  for (const hostile of HOSTILE) {
    for (const target of targets) {
      const started = Date.now();
      let answer;
      try {
        answer = await postJson(`${target.url}/v1/query`, { query: hostile.query, timeout_ms: TIMEOUT_MS }, {}, TIMEOUT_MS + MARGIN_MS);
      } catch (error) {
        wrong.push(`${hostile.name} via ${target.name}: no answer (${String(error)})`);
        continue;
      }
      const elapsed = Date.now() - started;
      timings.push(`${hostile.name} via ${target.name}: ${answer.status} in ${elapsed} ms`);
      const code = (answer.body['error'] as { code?: string } | undefined)?.code ?? (answer.status === 200 ? 'ok' : `HTTP ${answer.status}`);
      // A follower refuses a write with NOT_LEADER before running it: also a clear, right answer.
      const fine = hostile.expect.includes(code) || (hostile.write === true && target.name !== 'gateway' && target.url !== leader.url && code === 'NOT_LEADER');
      if (!fine) wrong.push(`${hostile.name} via ${target.name}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
      if (code === 'ok' && hostile.expect.includes('ok')) t.same(answer.body['rows'], [{ m: false }], `${hostile.name}: the right answer`);
      if (elapsed > TIMEOUT_MS + MARGIN_MS) wrong.push(`${hostile.name} via ${target.name}: took ${elapsed} ms`);
    }
  }
  t.comment(timings.join('\n'));
  t.same(wrong, [], 'every hostile statement got a clear error (or its answer) in time');

  for (const node of cluster.nodes) {
    t.ok(node.running, `${node.name} is still running`);
    t.equal((await getJson(`${node.url}/healthz`)).status, 200, `${node.name} answers`);
  }
  // Nothing a refused write touched is there, and the cluster writes and reads normally.
  const after = await postJson(`${gw.url}/v1/query`, { query: 'MATCH (n) RETURN count(n) AS n', consistency: 'linearizable' });
  t.same(after.body['rows'], [{ n: nodesBefore }], 'refused writes changed nothing');
  const write = await postJson(`${gw.url}/v1/query`, { query: 'CREATE (:After {ok: true})' });
  t.equal(write.status, 200, 'a write after them succeeds');
  const read = await postJson(`${gw.url}/v1/query`, { query: 'MATCH (a:After) RETURN count(a) AS n' });
  t.same(read.body['rows'], [{ n: 1 }], 'and is read back');
  const sums = await Promise.all(
    cluster.nodes.map(async (n) => {
      for (let i = 0; i < 100; i++) {
        const res = await getJson(`${n.url}/api/v1/admin/checksum`, { authorization: `Bearer ${cluster.adminToken}` });
        const body = res.body as { applied_index: number; checksum: string };
        if (body.applied_index >= ((write.body['meta'] as { index: number }).index ?? 0)) return body.checksum;
        await new Promise((r) => setTimeout(r, 100));
      }
      return 'never caught up';
    }),
  );
  t.equal(new Set(sums).size, 1, 'every replica holds the same graph');
});
