/**
 * The backup suite both destinations pass (test/storage-node/backup/archive-*.test.ts): a real
 * 3-node cluster of processes archiving to `destination`, then
 * - exact restores at several instants between writes whose commit times come from the write
 *   acknowledgements (`meta.committed_at`), compared row by row with what was committed by each;
 * - corruption: one flipped byte, a truncated segment and a missing one, named by `verify` and
 *   refused by restore;
 * - (file:// only) a destination that fails: logged, counted, shown in status, recovered;
 * - failover during archiving: the leader SIGKILLed under writes, the manifest then has no gap and no
 *   duplicate, and the latest restore holds every acknowledged write once;
 * - retention: old objects removed, and a restore to an instant inside the window still exact;
 * - a restored cluster started from its directories (`start`: `geode dev --data-dir`, or
 *   `geode node --config` for each node).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { launchCluster, freePort } from '../../cli/launcher.js';
import type { LaunchedCluster, LaunchedNode } from '../../cli/launcher.js';
import { GraphEngine } from '../../storage-node/graph/engine.js';
import { openDestination } from '../../storage-node/backup/destination.js';
import { restore } from '../../storage-node/backup/restore.js';
import { verifyBackup } from '../../storage-node/backup/verify.js';
import { allSegments, readManifest } from '../../storage-node/backup/restore.js';
import { chainProblems, segmentKey } from '../../storage-node/backup/format.js';
import { isGeodeError } from '../../shared/protocol/errors.js';
import { getJson, postJson, sleep, until } from './http.js';

const run = promisify(execFile);
const GEODE = new URL('../../bin/geode.js', import.meta.url).pathname;

/** The graph's Item rows as `i:v` strings, sorted: what a state is compared by. */
type Rows = string[];

interface Ack {
  index: number;
  at: number;
  /** The Item rows once this write is applied. */
  state: Rows;
}

class Writer {
  private readonly items = new Map<number, number>();
  readonly acks: Ack[] = [];
  private next = 0;

  constructor(private readonly cluster: LaunchedCluster) {}

  private state(): Rows {
    return [...this.items.entries()].map(([i, v]) => `${i}:${v}`).sort();
  }

  /** One write (create, update or delete, in turn), retried with its request id until acknowledged. */
  async write(): Promise<void> {
    const n = this.next++;
    let query: string;
    let params: Record<string, unknown>;
    let apply: () => void;
    if (n % 7 === 5 && this.items.size > 2) {
      const victim = [...this.items.keys()][1] as number;
      query = 'MATCH (n:Item {i: $i}) DELETE n';
      params = { i: victim };
      apply = () => this.items.delete(victim);
    } else if (n % 5 === 3 && this.items.size > 0) {
      const target = [...this.items.keys()][0] as number;
      query = 'MATCH (n:Item {i: $i}) SET n.v = $v';
      params = { i: target, v: n };
      apply = () => this.items.set(target, n);
    } else {
      query = 'CREATE (:Item {i: $i, v: $v})';
      params = { i: n, v: n * 10 };
      apply = () => this.items.set(n, n * 10);
    }
    const requestId = `backup-suite-${n}-${Math.random().toString(36).slice(2)}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const leader = await this.leader();
      try {
        const answer = await postJson(`${leader.url}/v1/query`, { query, params, request_id: requestId, timeout_ms: 3_000 }, {}, 5_000);
        const meta = answer.body['meta'] as { index?: number; committed_at?: number } | undefined;
        if (answer.status === 200 && meta?.committed_at !== undefined && meta.index !== undefined) {
          apply();
          this.acks.push({ index: meta.index, at: meta.committed_at, state: this.state() });
          return;
        }
      } catch {
        // A killed leader: ask again below.
      }
      this.current = undefined;
      if (Date.now() > deadline) throw new Error(`write ${n} was not acknowledged within 20 s`);
      await sleep(100);
    }
  }

  private current: LaunchedNode | undefined;

  /** The leader last seen, asked for again only after a write failed. */
  private async leader(): Promise<LaunchedNode> {
    this.current ??= await this.cluster.waitForLeader({ timeoutMs: 15_000 });
    return this.current;
  }
}

/** The Item rows of a restored graph file. */
function rowsOf(graphPath: string): Rows {
  const engine = GraphEngine.open(graphPath);
  try {
    const result = engine.execute('MATCH (n:Item) RETURN n.i AS i, n.v AS v', Object.create(null), { now: Date.now(), seed: 'suite' });
    return result.rows.map((r) => `${String(r[0])}:${String(r[1])}`).sort();
  } finally {
    engine.close();
  }
}

export interface SuiteOptions {
  destination: string;
  /** Environment of the node processes (credentials, endpoint). */
  env?: Record<string, string>;
  /** How the restored cluster is started at the end. */
  start: 'dev' | 'node-config';
  /** Breaks the destination (writes then fail); resolves with how to repair it. */
  failure?: () => Promise<() => Promise<void>>;
}

export async function backupSuite(t: Test, options: SuiteOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'geode-backup-suite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cluster = await launchCluster({ nodes: 3, dataDir: join(dir, 'cluster'), logLevel: 'warn', ...(options.env !== undefined ? { env: options.env } : {}) });
  t.teardown(() => cluster.stop());
  const auth = { authorization: `Bearer ${cluster.adminToken}` };
  const leaderUrl = async (): Promise<string> => (await cluster.waitForLeader({ timeoutMs: 15_000 })).url;
  const configured = await postJson(`${await leaderUrl()}/api/v1/admin/backup/config`, { mode: 'continuous', destination: options.destination, retention: '1h', segment_interval: '150ms' }, auth);
  t.equal(configured.status, 200, `configure: ${JSON.stringify(configured.body)}`);
  const writer = new Writer(cluster);
  const destination = await openDestination(options.destination);
  t.teardown(() => destination.close());

  /** Until the archive holds entry `index` (the leader's status says so). */
  const archivedThrough = (index: number): Promise<unknown> =>
    until(`the archive to reach index ${index}`, async () => {
      const status = await getJson(`${await leaderUrl()}/api/v1/cluster/status`);
      const backup = status.body['backup'] as { archived_index?: number | null } | undefined;
      return (backup?.archived_index ?? 0) >= index ? true : undefined;
    }, 20_000, 50);

  const restoreAt = async (at: number | undefined, name: string) => {
    const target = join(dir, name);
    const result = await restore({ from: options.destination, at, dataDir: target, nodes: ['node1'] });
    return { result, rows: rowsOf(join(target, 'node1', 'graph.db')) };
  };

  await t.test('restores exactly the writes committed by each instant', async (t) => {
    // Restore points start at the first base: write once it is stored.
    await until('the first base', async () => {
      const status = await getJson(`${await leaderUrl()}/api/v1/cluster/status`);
      return (status.body['backup'] as { state?: string } | undefined)?.state === 'archiving' ? true : undefined;
    }, 20_000, 50);
    for (let i = 0; i < 24; i++) {
      await writer.write();
      await sleep(15);
    }
    const acks = writer.acks;
    await writer.write(); // one more, so the last instant tested lies before the archive's last commit
    await archivedThrough(writer.acks[writer.acks.length - 1]!.index);
    const picks = [2, 6, 11, 17, acks.length - 2];
    for (const k of picks) {
      const ack = acks[k]!;
      const nextAt = acks[k + 1]!.at;
      // At the write's own commit time it is in; one millisecond before the next write's, that one is not.
      for (const at of new Set([ack.at, nextAt - 1])) {
        if (at < ack.at) continue;
        const { result, rows } = await restoreAt(at, `pitr-${k}-${at}`);
        t.same(rows, ack.state, `state at ${new Date(at).toISOString()} (after write ${k}, index ${ack.index})`);
        t.equal(result.index <= acks[k + 1]!.index - 1, true, `restored index ${result.index} stops before the next write (${acks[k + 1]!.index})`);
      }
    }
    const latest = await restoreAt(undefined, 'pitr-latest');
    t.same(latest.rows, writer.acks[writer.acks.length - 1]!.state, 'without a timestamp: everything archived');
    const tooLate = await restore({ from: options.destination, at: Date.now() + 3_600_000, dataDir: join(dir, 'too-late'), nodes: ['node1'] }).catch((e: unknown) => e);
    t.ok(isGeodeError(tooLate) && tooLate.detail === 'TimestampOutOfRange', 'an instant after the archive is refused');
    const nonEmpty = await restore({ from: options.destination, dataDir: join(dir, 'cluster'), nodes: ['node1'] }).catch((e: unknown) => e);
    t.ok(isGeodeError(nonEmpty) && nonEmpty.detail === 'TargetNotEmpty', 'a restore refuses a non-empty (live) data dir');
  });

  await t.test('a flipped byte, a truncated segment and a missing one are named by verify and refused by restore', async (t) => {
    const clean = await verifyBackup({ from: options.destination, sampleLabel: 'Item' });
    t.ok(clean.ok, `verify passes on the intact archive: ${clean.problems.join('; ')}`);
    t.ok((clean.trial?.nodes ?? 0) > 0, 'the trial restore counts nodes');
    const { manifest } = await readManifest(destination);
    const segments = await allSegments(destination, manifest);
    const victim = segments[segments.length - 1]!;
    const key = segmentKey(victim.first, victim.last);
    const original = (await destination.get(key))!;
    for (const damage of ['flip', 'truncate', 'delete'] as const) {
      const broken = Buffer.from(original);
      if (damage === 'flip') broken[Math.floor(broken.length / 2)]! ^= 0x01;
      if (damage === 'delete') await destination.delete([key]);
      else await destination.put(key, damage === 'flip' ? broken : broken.subarray(0, Math.floor(broken.length / 2)));
      const report = await verifyBackup({ from: options.destination });
      t.notOk(report.ok, `verify fails on a ${damage === 'delete' ? 'missing' : `${damage}d`} segment`);
      t.ok(report.problems.some((p) => p.includes(key)), `verify names ${key}: ${report.problems.join('; ')}`);
      const refused = await restore({ from: options.destination, dataDir: join(dir, `refused-${damage}`), nodes: ['node1'] }).catch((e: unknown) => e);
      t.ok(isGeodeError(refused) && refused.code === 'BACKUP_CORRUPT' && refused.message.includes(key), `restore refuses it, naming ${key}: ${String(refused)}`);
      if (damage === 'flip') {
        const cli = await run(process.execPath, [GEODE, 'backup', 'verify', '--from', options.destination], { env: { ...process.env, ...options.env } }).then(
          () => ({ code: 0, stdout: '' }),
          (e: { code: number; stdout: string }) => e,
        );
        t.equal(cli.code, 1, 'geode backup verify exits 1');
        t.match(cli.stdout, key, 'and its report names the object');
      }
      await destination.put(key, original);
    }
    t.ok((await verifyBackup({ from: options.destination })).ok, 'verify passes again once the object is repaired');
  });

  await t.test('archiving continues across a leader SIGKILL with no gap and no duplicate', async (t) => {
    const t0 = Date.now();
    const mark = (what: string): void => t.comment(`${what} at +${Date.now() - t0} ms`);
    const before = writer.acks.length;
    let stop = false;
    const writing = (async () => {
      while (!stop) await writer.write();
    })();
    await sleep(600);
    const leader = await cluster.waitForLeader({ timeoutMs: 15_000 });
    await leader.kill('SIGKILL');
    mark('leader killed');
    const next = await cluster.waitForLeader({ timeoutMs: 15_000, exclude: [leader.name] });
    t.not(next.name, leader.name, `${next.name} took over from ${leader.name}`);
    mark('new leader');
    await sleep(1_000);
    stop = true;
    await writing;
    mark('writes stopped');
    t.ok(writer.acks.length > before + 5, `writes went on (${writer.acks.length - before} acknowledged)`);
    await archivedThrough(Math.max(...writer.acks.map((a) => a.index)));
    mark('archived');
    const { manifest } = await readManifest(destination);
    const segments = await allSegments(destination, manifest);
    t.same(chainProblems(manifest, segments), [], 'the manifest has no gap and no overlap');
    t.same(manifest.breaks, [], 'and no break');
    t.ok(manifest.writer.term > 2 || manifest.writer.node !== leader.name, `the new leader wrote the manifest (${manifest.writer.node}, term ${manifest.writer.term})`);
    const latest = await restoreAt(undefined, 'after-failover');
    t.same(latest.rows, writer.acks[writer.acks.length - 1]!.state, 'the latest restore holds every acknowledged write exactly once');
    mark('restored');
  });

  if (options.failure !== undefined) {
    const breakDestination = options.failure;
    await t.test('a failing destination is logged, retried, and shown in status, geode cluster status and the metrics', async (t) => {
      const repair = await breakDestination();
      const leader = await cluster.waitForLeader({ timeoutMs: 15_000 });
      await writer.write();
      const failing = await until('the archiver to report the failure', async () => {
        const status = await getJson(`${leader.url}/api/v1/cluster/status`);
        const backup = status.body['backup'] as { state?: string; last_error?: { message: string } | null } | undefined;
        return backup?.state === 'failing' ? backup : undefined;
      }, 15_000, 100);
      t.ok(failing.last_error?.message !== undefined, `status says why: ${failing.last_error?.message}`);
      const cli = await run(process.execPath, [GEODE, 'cluster', 'status', '--url', leader.url]);
      t.match(cli.stdout, /backup FAILING since .*: /, 'geode cluster status shows it');
      const metrics = await fetch(`${leader.url}/metrics`).then((r) => r.text());
      t.match(metrics, /geode_backup_failures_total\{node="[^"]+"\} [1-9]/, 'the failures are counted');
      t.match(leader.output(), /backup: archiving failed/, 'and logged');
      await repair();
      await until('archiving to recover', async () => {
        const status = await getJson(`${leader.url}/api/v1/cluster/status`);
        return (status.body['backup'] as { state?: string } | undefined)?.state === 'archiving' ? true : undefined;
      }, 40_000, 200);
      t.pass('archiving works again once the destination does');
    });
  }

  await t.test('retention removes what left the window and keeps every instant inside it', async (t) => {
    const { manifest: old } = await readManifest(destination);
    const oldBase = old.bases[0]!;
    const oldSegment = segmentKey(old.segments[0]?.first ?? 0, old.segments[0]?.last ?? 0);
    const reconfigured = await postJson(`${await leaderUrl()}/api/v1/admin/backup/config`, { mode: 'continuous', destination: options.destination, retention: '2s', base_interval: '700ms', segment_interval: '150ms' }, auth);
    t.equal(reconfigured.status, 200, 'same destination, shorter retention');
    t.equal((reconfigured.body['config'] as { lineage: string }).lineage, old.lineage, 'the lineage stays with the destination');
    const started = writer.acks.length;
    const end = Date.now() + 4_500;
    while (Date.now() < end) {
      await writer.write();
      await sleep(60);
    }
    const deleted = await until('retention to delete the oldest base', async () => ((await destination.get(oldBase.key)) === undefined ? true : undefined), 15_000, 200).catch((e) => {
      for (const n of cluster.nodes) console.error(n.name, n.output().split('\n').filter((l) => l.includes('backup')).slice(-15).join('\n'));
      throw e;
    });
    t.ok(deleted, `${oldBase.key} was deleted`);
    t.equal(await destination.get(oldSegment), undefined, `${oldSegment} was deleted`);
    await writer.write();
    await archivedThrough(writer.acks[writer.acks.length - 1]!.index);
    const { manifest } = await readManifest(destination);
    t.ok(manifest.bases.every((b) => b.index > oldBase.index), 'the manifest names no deleted base');
    const segments = await allSegments(destination, manifest);
    t.same(chainProblems(manifest, segments), [], 'the chain after retention has no gap');
    // An instant one second ago lies inside the 2 s window.
    const inside = writer.acks.slice(started).filter((a) => a.at <= Date.now() - 1_000 && a.at >= manifest.bases[0]!.time);
    const ack = inside[inside.length - 1];
    t.ok(ack !== undefined, 'a write inside the window to restore to');
    if (ack !== undefined) {
      const { rows } = await restoreAt(ack.at, 'inside-window');
      t.same(rows, ack.state, `the state at ${new Date(ack.at).toISOString()}, inside the window, is exact`);
    }
  });

  await t.test(`a restored cluster starts from its directories (${options.start === 'dev' ? 'geode dev --data-dir' : 'geode node --config'})`, async (t) => {
    // The source cluster is done: a long retention again (so nothing more is deleted), then stopped, so
    // the machine's cores go to the restored one.
    const kept = await postJson(`${await leaderUrl()}/api/v1/admin/backup/config`, { mode: 'continuous', destination: options.destination, retention: '1h' }, auth);
    t.equal(kept.status, 200, 'retention back to an hour');
    await cluster.stop();
    const ack = writer.acks[writer.acks.length - 2]!;
    const target = join(dir, 'restored');
    const basePort = await freePort('127.0.0.1');
    const cli = await run(process.execPath, [GEODE, 'restore', '--from', options.destination, '--timestamp', new Date(ack.at).toISOString(), '--data-dir', target, '--nodes', '3', '--base-port', String(basePort), '--json'], {
      env: { ...process.env, ...options.env },
    });
    const summary = JSON.parse(cli.stdout) as { index: number; configs: string[] };
    t.match(cli.stderr, /restoring \[#+\] \d+\/\d+ objects/, 'a progress bar on stderr');
    t.equal(summary.configs.length, 3, 'three node configs');
    const children = options.start === 'dev' ? [spawn(process.execPath, [GEODE, 'dev', '--data-dir', target, '--base-port', '0', '--front-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'ignore'] })] : summary.configs.map((config) => spawn(process.execPath, [GEODE, 'node', '--config', config, '--log-level', 'warn'], { stdio: 'ignore', env: { ...process.env, GEODE_PARENT_PID: String(process.pid) } }));
    t.teardown(async () => {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    });
    const urls: string[] = await new Promise((resolve, reject) => {
      if (options.start === 'node-config') {
        resolve(summary.configs.map((_, i) => `http://127.0.0.1:${basePort + i}`));
        return;
      }
      const lines = createInterface({ input: children[0]!.stdout! });
      const timer = setTimeout(() => reject(new Error('geode dev did not announce itself')), 60_000);
      lines.on('line', (line) => {
        try {
          const announced = JSON.parse(line) as { gateway: string };
          clearTimeout(timer);
          resolve([announced.gateway]);
        } catch {
          // Not the startup line.
        }
      });
    });
    const rows = await until(
      'the restored cluster to answer a linearizable read',
      async () => {
        for (const url of urls) {
          const answer = await postJson(`${url}/v1/query`, { query: 'MATCH (n:Item) RETURN n.i AS i, n.v AS v', consistency: 'linearizable' }, {}, 3_000).catch(() => undefined);
          if (answer?.status === 200) return (answer.body['rows'] as { i: number; v: number }[]).map((r) => `${r.i}:${r.v}`).sort();
        }
        return undefined;
      },
      120_000,
      200,
    );
    t.same(rows, ack.state, `the restored cluster serves the state at ${new Date(ack.at).toISOString()}`);
    const write = await until('a write on the restored cluster', async () => {
      for (const url of urls) {
        const answer = await postJson(`${url}/v1/query`, { query: 'CREATE (:Item {i: -1, v: -1})' }, {}, 3_000).catch(() => undefined);
        if (answer?.status === 200) return answer.body['meta'] as { index: number };
      }
      return undefined;
    }, 20_000, 200);
    t.ok(write.index > summary.index, `it writes after the restored index (${write.index} > ${summary.index})`);
    if (options.start === 'dev') {
      // The CLI against this dev, by default through its gateway (dev.json), which forwards admin routes to the leader.
      const geode = (...args: string[]) => run(process.execPath, [GEODE, ...args, '--data-dir', target], { env: { ...process.env, ...options.env } });
      const fresh = `file://${join(dir, 'restored-archive')}`;
      const configured = await geode('backup', 'configure', '--mode', 'continuous', '--destination', fresh, '--retention', '30d');
      t.match(configured.stdout, /continuous backup to file:.*retention 30d/, 'geode backup configure through the dev gateway');
      const now = await geode('backup', 'now');
      t.match(now.stdout, /base snapshot bases\/\d+\.db\.gz: index \d+/, 'geode backup now');
      const listed = JSON.parse((await geode('backup', 'list', '--json')).stdout) as { restore_points: { bases: unknown[] } };
      t.ok(listed.restore_points.bases.length >= 1, 'geode backup list shows the bases');
      const status = await geode('cluster', 'status');
      t.match(status.stdout, /backup (archiving|starting) to file:/, `geode cluster status shows the backup line:\n${status.stdout}`);
    }
  });
}
