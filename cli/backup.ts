/**
 * `geode backup configure | now | list | verify` and `geode restore`
 * (storage-node/backup/).
 *
 * configure, now and list talk to the cluster's admin routes
 * (`/api/v1/admin/backup...`, leader only) at `--url`: by default the
 * gateway of the `geode dev` that `<data-dir>/dev.json` names (a gateway
 * forwards admin routes to the leader), then dev.json's nodes, then the dev
 * defaults; a node that is not the leader answers 421 with the leader's URL,
 * which is followed once. The admin token comes from `--token`,
 * GEODE_ADMIN_TOKEN or dev.json, as for `geode cluster`.
 *
 * `list --from URL`, `verify --from URL` and `restore --from URL` read the
 * destination themselves (credentials and endpoint from this process's
 * environment, see storage-node/backup/destination.ts): they work with no
 * cluster running, which is when a restore is needed.
 *
 * `restore` writes `<data-dir>/node<i>/` (graph.db and raft.db, see
 * storage-node/backup/restore.ts), a config `<data-dir>/node<i>.yaml` per
 * node (loopback ports from `--base-port`, a fresh cluster secret and admin
 * token, as `geode dev` lays them out), and `<data-dir>/restore.json`
 * saying what was restored. Then either `geode node --config
 * <data-dir>/node1.yaml` (and the others), or, for a restore made with
 * `--nodes 3` (the default), `geode dev --data-dir <data-dir>`, which starts
 * node1..node3 on the same directories.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { durationMs } from '../shared/config/duration.js';
import { formatBytes } from '../storage-node/backup/format.js';
import { isAlive, readDevState } from './dev-state.js';
import { CommandFailed } from './cluster.js';

const DEV_GATEWAY = 'http://127.0.0.1:3141';
const DEV_NODES = ['http://127.0.0.1:3151', 'http://127.0.0.1:3152', 'http://127.0.0.1:3153'];

/** A usage mistake (exit 2). */
export class BackupUsageError extends Error {}

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stderr is a terminal: the progress bar redraws one line. */
  tty: boolean;
}

const BACKUP_USAGE = `Usage:
  geode backup configure --mode continuous --destination URL [--retention 30d]
                         [--segment-interval 1s] [--segment-entries 4096] [--base-interval 6h]
  geode backup configure --mode off
  geode backup now                       a base snapshot now (returns once stored)
  geode backup list [--from URL]         the restore points (from the cluster, or the destination itself)
  geode backup verify --from URL [--sample-label User]
                                         files, checksums, gaps, and a trial restore; exit 1 on any problem
  geode restore --from URL [--timestamp 2025-01-24T15:30:00Z] --data-dir DIR [--nodes 3] [--base-port 3151]
Common: --url URL (cluster; default: geode dev's gateway), --token T, --data-dir DIR (dev.json), --json
Destinations: file:///abs/path, s3://bucket/prefix[?path_style=true&endpoint=http://host:port&region=r]
(S3 credentials, region and endpoint from AWS_* variables or ~/.aws; GEODE_S3_FORCE_PATH_STYLE=1)
`;

function parse(args: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options']) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h', default: false }, 'log-level': { type: 'string' } }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new BackupUsageError(error instanceof Error ? error.message : String(error));
  }
}

const clusterOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string', default: 'data' },
  json: { type: 'boolean', default: false },
} as const;

export async function runBackupCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clusterOptions,
    mode: { type: 'string' },
    destination: { type: 'string' },
    retention: { type: 'string' },
    'segment-interval': { type: 'string' },
    'segment-entries': { type: 'string' },
    'base-interval': { type: 'string' },
    from: { type: 'string' },
    'sample-label': { type: 'string' },
    timeout: { type: 'string', default: '10m' },
  });
  const v = values as Record<string, string | boolean | undefined>;
  const [sub, ...rest] = positionals;
  if (v['help'] === true || sub === undefined) {
    io.out(BACKUP_USAGE);
    return sub === undefined && v['help'] !== true ? 2 : 0;
  }
  if (rest.length > 0) throw new BackupUsageError(`backup ${sub}: unexpected ${rest.join(' ')}`);
  const json = v['json'] === true;
  const cluster = new ClusterAdmin(v['url'] as string | undefined, v['token'] as string | undefined, resolve(v['data-dir'] as string));
  switch (sub) {
    case 'configure': {
      const mode = v['mode'];
      if (mode !== 'continuous' && mode !== 'off') throw new BackupUsageError('backup configure: --mode continuous or --mode off');
      const body: Record<string, unknown> = { mode };
      if (v['destination'] !== undefined) body['destination'] = v['destination'];
      if (v['retention'] !== undefined) body['retention'] = v['retention'];
      if (v['segment-interval'] !== undefined) body['segment_interval'] = v['segment-interval'];
      if (v['base-interval'] !== undefined) body['base_interval'] = v['base-interval'];
      if (v['segment-entries'] !== undefined) body['segment_entries'] = count(v['segment-entries'] as string, '--segment-entries');
      const answer = (await cluster.call('POST', '/api/v1/admin/backup/config', body)) as { config: Record<string, unknown> | null; index: number; status: Record<string, unknown> };
      if (json) io.out(`${JSON.stringify(answer)}\n`);
      else if (answer.config === null) io.out(`backups are off (applied at index ${answer.index})\n`);
      else io.out(`continuous backup to ${String(answer.config['destination'])}, retention ${ms(answer.config['retention_ms'])}, segments every ${ms(answer.config['segment_ms'])} or ${String(answer.config['segment_entries'])} entries, a base every ${ms(answer.config['base_interval_ms'])} (applied at index ${answer.index}; the leader archives now)\n`);
      return 0;
    }
    case 'now': {
      const timeoutMs = duration(v['timeout'] as string, '--timeout');
      const answer = (await cluster.call('POST', '/api/v1/admin/backup/now', { timeout_ms: Math.min(timeoutMs, 3_600_000) }, timeoutMs + 5_000)) as { base: { index: number; time: string; bytes: number; key: string } };
      io.out(json ? `${JSON.stringify(answer)}\n` : `base snapshot ${answer.base.key}: index ${answer.base.index}, committed through ${answer.base.time}, ${formatBytes(answer.base.bytes)}\n`);
      return 0;
    }
    case 'list': {
      const from = v['from'] as string | undefined;
      let points: RestorePointsLike | null;
      let status: Record<string, unknown> | undefined;
      if (from !== undefined) {
        const { openDestination } = await import('../storage-node/backup/destination.js');
        const { readManifest, allSegments } = await import('../storage-node/backup/restore.js');
        const { restorePoints } = await import('../storage-node/backup/format.js');
        const destination = await openDestination(from);
        try {
          const { manifest } = await readManifest(destination);
          points = restorePoints(manifest, await allSegments(destination, manifest));
        } finally {
          destination.close();
        }
      } else {
        const answer = (await cluster.call('GET', '/api/v1/admin/backup')) as { restore_points: RestorePointsLike | null; status: Record<string, unknown> };
        points = answer.restore_points;
        status = answer.status;
      }
      if (json) io.out(`${JSON.stringify(from === undefined ? { restore_points: points, status } : { restore_points: points })}\n`);
      else io.out(pointsText(points));
      return 0;
    }
    case 'verify': {
      const from = v['from'] as string | undefined;
      if (from === undefined) throw new BackupUsageError('backup verify: --from URL is required');
      const { verifyBackup } = await import('../storage-node/backup/verify.js');
      const bar = new ProgressBar(io, 'checking');
      const report = await verifyBackup({
        from,
        ...(v['sample-label'] !== undefined ? { sampleLabel: v['sample-label'] as string } : {}),
        onProgress: (done, total, bytes) => bar.update(done, total, bytes, undefined),
      });
      bar.end();
      if (json) io.out(`${JSON.stringify(report)}\n`);
      else {
        const lines = [`backup verification of ${from}:`];
        for (const check of report.checks) {
          lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.step}: ${check.summary}`);
          for (const p of check.problems) lines.push(`         - ${p}`);
        }
        if (report.trial !== null) lines.push(`  sample node: ${JSON.stringify(report.trial.sample)}`);
        lines.push(report.ok ? `Backup verification successful: ${from}` : `Backup verification FAILED: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`);
        io.out(`${lines.join('\n')}\n`);
      }
      return report.ok ? 0 : 1;
    }
    default:
      throw new BackupUsageError(`backup: unknown subcommand ${sub} (configure, now, list, verify)`);
  }
}

export async function runRestoreCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parse(args, {
    from: { type: 'string' },
    timestamp: { type: 'string' },
    'data-dir': { type: 'string' },
    nodes: { type: 'string', default: '3' },
    'base-port': { type: 'string', default: '3151' },
    json: { type: 'boolean', default: false },
  });
  const v = values as Record<string, string | boolean | undefined>;
  if (v['help'] === true) {
    io.out(BACKUP_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new BackupUsageError(`restore: unexpected ${positionals.join(' ')}`);
  const from = v['from'] as string | undefined;
  const dataDirArg = v['data-dir'] as string | undefined;
  if (from === undefined) throw new BackupUsageError('restore: --from URL is required');
  if (dataDirArg === undefined) throw new BackupUsageError('restore: --data-dir DIR is required (a new or empty directory)');
  const nodes = count(v['nodes'] as string, '--nodes');
  const basePort = count(v['base-port'] as string, '--base-port');
  if (basePort + nodes - 1 > 65535) throw new BackupUsageError('restore: --base-port leaves no room for the nodes');
  const at = v['timestamp'] === undefined ? undefined : timestamp(v['timestamp'] as string);
  const dataDir = resolve(dataDirArg);
  const json = v['json'] === true;
  const names = Array.from({ length: nodes }, (_, i) => `node${i + 1}`);
  const { restore } = await import('../storage-node/backup/restore.js');
  const bar = new ProgressBar(io, 'restoring');
  let result;
  try {
    result = await restore({ from, at, dataDir, nodes: names, onProgress: (p) => bar.update(p.objects, p.objectsTotal, p.bytes, p.bytesTotal) });
  } finally {
    bar.end();
  }
  const secret = randomBytes(24).toString('hex');
  const token = randomBytes(24).toString('hex');
  const configs = names.map((name, i) => {
    const path = join(dataDir, `${name}.yaml`);
    writeFileSync(path, restoredNodeConfig(name, i, names, basePort, dataDir, secret, token, result.cluster_id));
    return path;
  });
  const summary = { ...result, configs, admin_token: token, from };
  writeFileSync(join(dataDir, 'restore.json'), `${JSON.stringify({ ...summary, admin_token: undefined, restored_at: new Date().toISOString() }, null, 2)}\n`);
  if (json) io.out(`${JSON.stringify(summary)}\n`);
  else {
    io.out(
      [
        `restored ${result.target === null ? 'everything archived' : `the committed state at ${result.target}`}: index ${result.index} (last entry committed ${result.time ?? '-'})`,
        `  from ${result.base.key} (index ${result.base.index}) and ${result.entries_replayed} entries in ${result.segments} segments, ${formatBytes(result.bytes)}`,
        ...result.nodes.map((n, i) => `  ${n.name}: ${n.data_dir}  config ${configs[i]}`),
        `start it: ${nodes === 3 ? `geode dev --data-dir ${dataDir}   (or ` : '('}geode node --config <config> for each node)`,
        `backups are off in the restored cluster: configure them into an empty destination`,
      ].join('\n') + '\n',
    );
  }
  return 0;
}

/** A node config as `geode dev` writes them (cli/launcher.ts), for a restored node. */
function restoredNodeConfig(name: string, i: number, names: string[], basePort: number, dataDir: string, secret: string, token: string, clusterId: string): string {
  const addr = (j: number): string => `127.0.0.1:${basePort + j}`;
  const entry = {
    role: 'standby',
    listen: addr(i),
    advertise: `http://${addr(i)}`,
    cluster_peers: names.map((n, j) => `${n}@${addr(j)}`).filter((_, j) => j !== i),
    data_dir: join(dataDir, name),
    cluster_secret: secret,
    admin_token: token,
    cluster_id: clusterId,
  };
  return `# Written by geode restore; node ${name} of the restored cluster.\n${stringify({ [name]: entry })}`;
}

/** The cluster's admin routes, found as `geode cluster` finds nodes, preferring dev's gateway. */
class ClusterAdmin {
  constructor(
    private readonly url: string | undefined,
    private readonly tokenOption: string | undefined,
    private readonly dataDir: string,
  ) {}

  private candidates(): string[] {
    if (this.url !== undefined) return [this.url.replace(/\/+$/, '')];
    const dev = readDevState(this.dataDir);
    const live = dev !== undefined && isAlive(dev.pid);
    return [...new Set([...(live ? [dev.gateway] : []), ...(dev?.nodes.map((n) => n.url) ?? []), DEV_GATEWAY, ...DEV_NODES])];
  }

  private token(): string | undefined {
    const env = process.env['GEODE_ADMIN_TOKEN'];
    return this.tokenOption ?? (env === undefined || env === '' ? undefined : env) ?? readDevState(this.dataDir)?.admin_token;
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
    const errors: string[] = [];
    for (const base of this.candidates()) {
      let url = base;
      for (let hop = 0; hop < 2; hop++) {
        let response: Response;
        try {
          response = await this.send(method, `${url}${path}`, body, timeoutMs);
        } catch (error) {
          errors.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
          break;
        }
        const answer = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string; leader_url?: string | null } };
        if (response.ok) return answer;
        if (answer.error?.code === 'NOT_LEADER' && typeof answer.error.leader_url === 'string' && hop === 0) {
          url = answer.error.leader_url;
          continue;
        }
        throw new CommandFailed(`${answer.error?.code ?? `HTTP ${response.status}`}: ${answer.error?.message ?? 'no message'}`);
      }
    }
    throw new CommandFailed(`no node or gateway answered:\n  ${errors.join('\n  ')}`);
  }

  private send(method: string, url: string, body: unknown, timeoutMs: number): Promise<Response> {
    const token = this.token();
    return fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }
}

interface RestorePointsLike {
  cluster_id: string;
  earliest: string | null;
  latest: string | null;
  first_index: number | null;
  last_index: number | null;
  bases: { index: number; time: string; bytes: number; key: string }[];
  segments: number;
  breaks: { after: number; resume: number; from: string; to: string; reason: string }[];
  windows: { from: string; to: string }[];
}

function pointsText(points: RestorePointsLike | null): string {
  if (points === null) return 'backups are not configured\n';
  const lines = [`cluster ${points.cluster_id}: entries ${points.first_index ?? '-'}..${points.last_index ?? '-'} in ${points.segments} segments, ${points.bases.length} bases`];
  lines.push(points.windows.length === 0 ? 'no exact restore point yet (no base, or no entry after it)' : `restore points: any instant in ${points.windows.map((w) => `[${w.from}, ${w.to})`).join(', ')}; without --timestamp: up to ${points.latest ?? '-'}`);
  for (const b of points.bases) lines.push(`  base ${b.key}  index ${b.index}  committed through ${b.time}  ${formatBytes(b.bytes)}`);
  for (const b of points.breaks) lines.push(`  break: entries ${b.after + 1}..${b.resume - 1} (${b.from} .. ${b.to}) are not archived: ${b.reason}`);
  return `${lines.join('\n')}\n`;
}

/** Objects and bytes on stderr: one redrawn line on a terminal, a line per tenth otherwise. */
class ProgressBar {
  private lastDraw = 0;
  private lastTenth = -1;
  private drawn = false;
  constructor(
    private readonly io: Output,
    private readonly label: string,
  ) {}

  update(done: number, total: number, bytes: number, bytesTotal: number | undefined): void {
    const fraction = total === 0 ? 1 : Math.min(1, (bytesTotal !== undefined && bytesTotal > 0 ? bytes / bytesTotal : done / total));
    const width = 24;
    const filled = Math.round(fraction * width);
    const text = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} objects, ${formatBytes(bytes)}${bytesTotal === undefined ? '' : ` / ${formatBytes(bytesTotal)}`}`;
    const now = Date.now();
    if (this.io.tty) {
      if (now - this.lastDraw < 100 && done < total) return;
      this.lastDraw = now;
      this.io.err(`\r${text}\x1b[K`);
      this.drawn = true;
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth === this.lastTenth) return;
    this.lastTenth = tenth;
    this.io.err(`${text}\n`);
  }

  end(): void {
    if (this.io.tty && this.drawn) this.io.err('\n');
  }
}

function count(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1) throw new BackupUsageError(`${option}: expected an integer >= 1, got ${text}`);
  return value;
}

function duration(text: string, option: string): number {
  const value = /^\d+$/.test(text) ? Number(text) * 1000 : durationMs(text);
  if (value === undefined || value <= 0) throw new BackupUsageError(`${option}: expected a duration such as 30s or 10m, got ${text}`);
  return value;
}

/** ISO 8601 (`2025-01-24T15:30:00Z`), or milliseconds since the epoch (a write's `meta.committed_at`). */
function timestamp(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(value)) throw new BackupUsageError(`--timestamp: expected an ISO 8601 instant such as 2025-01-24T15:30:00Z (or ms since the epoch), got ${text}`);
  return value;
}

function ms(value: unknown): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1_000, 's']];
  for (const [size, unit] of units) if (n >= size && n % size === 0) return `${n / size}${unit}`;
  return `${n}ms`;
}
