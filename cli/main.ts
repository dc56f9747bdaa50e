/**
 * The `geode` command. Each subcommand parses its own options; usage errors
 * exit 2, runtime failures exit 1, long-running commands exit 0 on SIGINT/SIGTERM.
 */
import cluster from 'node:cluster';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { ConfigError, durationMs, formatByteSize, loadNodeConfig } from '../shared/config/index.js';
import type { DevOptions } from './dev.js';
import type { RunningNode } from './serve.js';
import { CLUSTER_SUBCOMMANDS, CommandFailed, MONITOR_METRICS } from './cluster.js';
import { ShutdownOnSignals } from './signals.js';

const USAGE = `Usage: geode <command> [options]

Commands:
  dev [--data-dir DIR] [--nodes N] [--gateways G] [--base-port P] [--front-port P]
                                      run a 3-node cluster on 127.0.0.1:3151-3153 (data in ./data)
                                      and the gateway on 127.0.0.1:3141 (G gateways: 3141, 3142, ...)
      [--regions us-east-1:3,eu-west-1:3 | --regions-config deployment.yaml] [--wan-latency 40ms]
                                      one Raft group per region (the first region primary; or the
                                      seed's regions:/global_deployment: YAML with node counts), nodes
                                      <region>-node<i> on consecutive ports; --wan-latency puts a delay
                                      proxy (one-way delay) on every link between regions
  node --config FILE [--id NODE] [--check]
                                      run one storage node from a YAML config
                                      (--check: validate the config, report every problem, exit)
  gateway --config FILE [--workers N] [--check]
                                      run one gateway from a YAML config (N processes sharing the port)
  cluster <sub> [--url URL] [--json] [--token T] [--data-dir DIR]
      status                          cluster table (or JSON)
      health                          exit 0 while the quorum holds, 1 otherwise
      primary                         print the leader's name
      failover --target=ID            hand leadership to ID
      kill-node ID | start-node ID    SIGKILL a node of \`geode dev\` and keep it down / start it again
                                      (dev restarts a node that dies any other way)
      wait-sync ID [--timeout S]      wait until ID applied what is committed now (default 30 s)
      verify-data [--timeout S]       compare graph checksums of all nodes at the same applied index
                                      (regions: also across regions, at the same source position)
      monitor --metric replication_lag [--interval 1s] [--count N]
                                      each region's lag (one cluster: each node's), a line per interval
      promote-region NAME [--force] [--timeout 30s]
                                      make region NAME the primary (--force: without the old primary)
      rejoin-region NAME              a fenced former primary follows the new primary again
  backup configure --mode continuous --destination URL [--retention 30d]
                                      archive the cluster continuously (file:///path, s3://bucket/prefix)
  backup now | list [--from URL]      a base snapshot now / the restore points
  backup verify --from URL            files, checksums, no gap, trial restore; exit 1 on any problem
  restore --from URL [--timestamp T] --data-dir DIR [--nodes 3]
                                      a new cluster's data dirs and configs holding the committed state at T
                                      (then geode dev --data-dir DIR, or geode node --config DIR/node1.yaml ...)
  help                                show this text

Durations: --timeout and --interval take 500ms, 30s, 2m or a number of seconds; --wan-latency a
number of milliseconds or 40ms, 0.1s.

Common options:
  --log-level LEVEL                   pino level for the logs on stderr (default info)
  -h, --help                          show this text

On start, long-running commands print one JSON line to stdout:
  node:    {"nodes":[{"id":"node1","url":"http://127.0.0.1:3151"}]}
  dev:     {"nodes":[...],"gateway":"http://127.0.0.1:3141"} (with --gateways 2, also "gateways":[url1,url2])
           with regions: {"regions":[{"name","role","nodes":[{"id","url"}]}],"gateway":...}
  gateway: {"gateway":"http://127.0.0.1:3141"}
`;

/** A usage mistake: report it with the usage text, exit 2. */
class UsageError extends Error {}

type Command = (args: string[]) => Promise<number | 'running'>;

const commands: Readonly<Record<string, Command>> = {
  dev: runDev,
  node: runNode,
  gateway: runGatewayCommand,
  cluster: runCluster,
  backup: (args) => runBackup('backup', args),
  restore: (args) => runBackup('restore', args),
  help: async () => printUsage(),
};

export async function main(argv: string[]): Promise<number | 'running'> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (name === '-h' || name === '--help') return printUsage();
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  try {
    if (command === undefined) throw new UsageError(`unknown command: ${name}`);
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`geode: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof CommandFailed) {
      process.stderr.write(`geode: ${error.message}\n`);
      return 1;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`geode: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`geode: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

const commonOptions = {
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseWithPositionals(args, options, false).values;
}

function parseWithPositionals<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options: { ...commonOptions, ...options }, strict: true, allowPositionals });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function checkLogLevel(level: string): string {
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

function parsePort(text: string, option: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`${option}: expected 0..65535, got ${text}`);
  return port;
}

/**
 * A duration option: `40ms`, `1s`, `2m` (the `ms` package, as in configs); a plain number is
 * `plainUnitMs` ms each (1 for --wan-latency, 1000 for the seconds of --timeout / --interval).
 */
function parseDuration(text: string, option: string, plainUnitMs: number): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) * plainUnitMs : durationMs(text);
  if (value === undefined || !Number.isSafeInteger(value)) throw new UsageError(`${option}: expected a duration such as 40ms, 1s or 2m, got ${text}`);
  return value;
}

function parseCount(text: string, option: string, minimum: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < minimum) throw new UsageError(`${option}: expected an integer >= ${minimum}, got ${text}`);
  return value;
}

/** `geode dev`: a local cluster of child processes and its gateways (see dev.ts). */
async function runDev(args: string[]): Promise<number | 'running'> {
  const values = parseOptions(args, {
    'data-dir': { type: 'string', default: 'data' },
    nodes: { type: 'string', default: '3' },
    'base-port': { type: 'string', default: '3151' },
    'front-port': { type: 'string', default: '3141' },
    gateways: { type: 'string', default: '1' },
    regions: { type: 'string' },
    'regions-config': { type: 'string' },
    'wan-latency': { type: 'string' },
  });
  if (values.help) return printUsage();
  if (values.regions !== undefined && values['regions-config'] !== undefined) throw new UsageError('dev: give --regions or --regions-config, not both');
  if (values['wan-latency'] !== undefined && values.regions === undefined && values['regions-config'] === undefined) {
    throw new UsageError('dev: --wan-latency needs regions (--regions or --regions-config)');
  }
  const nodes = parseCount(values.nodes, '--nodes', 1);
  const options: DevOptions = {
    dataDir: resolve(values['data-dir']),
    nodes,
    basePort: parsePort(values['base-port'], '--base-port'),
    frontPort: parsePort(values['front-port'], '--front-port'),
    gateways: parseCount(values.gateways, '--gateways', 1),
    logLevel: checkLogLevel(values['log-level']),
  };
  if (values['wan-latency'] !== undefined) options.wanLatencyMs = parseDuration(values['wan-latency'], '--wan-latency', 1);
  const dev = await import('./dev.js');
  // A bad --regions or regions file throws ConfigError listing every problem: exit 2.
  if (values.regions !== undefined) options.regions = dev.parseRegionsFlag(values.regions, nodes);
  if (values['regions-config'] !== undefined) options.regions = dev.loadDevRegions(values['regions-config']);
  const running = await dev.startDev(options);
  shutdown.add(() => running.close());
  process.stdout.write(`${JSON.stringify(running.announcement)}\n`);
  return 'running';
}

async function runNode(args: string[]): Promise<number | 'running'> {
  const values = parseOptions(args, { config: { type: 'string' }, id: { type: 'string' }, check: { type: 'boolean', default: false } });
  if (values.help) return printUsage();
  if (values.config === undefined) throw new UsageError('node: --config FILE is required');
  // A bad config throws ConfigError listing every problem: exit 2, with or without --check.
  const config = loadNodeConfig(values.config, values.id === undefined ? {} : { nodeId: values.id });
  if (values.check) {
    process.stdout.write(
      `${values.config}: valid (node ${config.id}, cluster ${config.clusterId}, ${config.members.length} member${config.members.length === 1 ? '' : 's'}, ` +
        `${config.replicationMode}, query_memory_limit ${formatByteSize(config.queryMemoryLimitBytes)}` +
        (config.regions === undefined ? '' : `, region ${config.regions.self} of ${config.regions.regions.map((r) => `${r.name} (${r.role})`).join(', ')}`) +
        ')\n',
    );
    return 0;
  }
  const logLevel = checkLogLevel(values['log-level']);
  stopWithParent();
  // Loaded on demand so `geode --help` never pays for (or depends on) the engine and server.
  const serve = await import('./serve.js');
  const node = await serve.startClusterNode(config, logLevel);
  return announce([node]);
}

/**
 * A node launched by `geode dev` or the test launcher carries its parent's pid:
 * when that process is gone (even SIGKILLed), the node shuts down cleanly.
 */
function stopWithParent(): void {
  const parent = Number(process.env['GEODE_PARENT_PID']);
  if (!Number.isInteger(parent) || parent <= 0) return;
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') return;
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, 500);
  timer.unref();
}

/** `geode gateway --config FILE`: one gateway (see gateway.ts); prints {"gateway": url} once listening. */
async function runGatewayCommand(args: string[]): Promise<number | 'running'> {
  const values = parseOptions(args, { config: { type: 'string' }, workers: { type: 'string', default: '1' }, check: { type: 'boolean', default: false } });
  if (values.help) return printUsage();
  if (values.config === undefined) throw new UsageError('gateway: --config FILE is required');
  if (values.check) {
    const { loadGatewayConfig } = await import('../gateway/index.js');
    const config = loadGatewayConfig(values.config);
    process.stdout.write(`${values.config}: valid (gateway on ${config.listen.host}:${config.listen.port}, region ${config.region})\n`);
    return 0;
  }
  const workers = parseCount(values.workers, '--workers', 1);
  const logLevel = checkLogLevel(values['log-level']);
  if (cluster.isPrimary) stopWithParent();
  const gateway = await import('./gateway.js');
  const running = await gateway.runGateway(values.config, workers, logLevel, () => shutdown.stop());
  shutdown.add(() => running.close());
  // A node:cluster worker reports to its primary instead; only the primary announces.
  if (cluster.isPrimary) process.stdout.write(`${JSON.stringify({ gateway: running.url })}\n`);
  return 'running';
}

async function runCluster(args: string[]): Promise<number> {
  const { values, positionals } = parseWithPositionals(
    args,
    {
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      token: { type: 'string' },
      'data-dir': { type: 'string', default: 'data' },
      target: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      force: { type: 'boolean', default: false },
      metric: { type: 'string', default: 'replication_lag' },
      interval: { type: 'string', default: '1s' },
      count: { type: 'string' },
    },
    true,
  );
  if (values.help) return printUsage();
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(`cluster: a subcommand is required (${CLUSTER_SUBCOMMANDS.join(', ')})`);
  if (!(CLUSTER_SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`cluster: unknown subcommand ${sub}`);
  if (!(MONITOR_METRICS as readonly string[]).includes(values.metric)) throw new UsageError(`cluster monitor: --metric: expected one of ${MONITOR_METRICS.join(', ')}`);
  const timeoutMs = parseDuration(values.timeout, '--timeout', 1000);
  if (timeoutMs < 1) throw new UsageError('--timeout: expected a duration above 0');
  const intervalMs = parseDuration(values.interval, '--interval', 1000);
  if (intervalMs < 10) throw new UsageError('--interval: expected at least 10ms');
  const cluster = await import('./cluster.js');
  // Ctrl-C ends a monitor between lines: it stops, and the process exits 0 once it has.
  const stop = new AbortController();
  const run = cluster.runClusterCommand(sub, {
    url: values.url,
    json: values.json,
    token: values.token,
    dataDir: resolve(values['data-dir']),
    target: values.target,
    timeoutMs,
    positionals: rest,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    force: values.force,
    metric: values.metric,
    intervalMs,
    ...(values.count === undefined ? {} : { count: parseCount(values.count, '--count', 1) }),
    signal: stop.signal,
  });
  // Other subcommands end at once on Ctrl-C, as before.
  if (sub === 'monitor') {
    shutdown.add(async () => {
      stop.abort();
      await run.catch(() => undefined);
    });
  }
  return run;
}

/** `geode backup ...` and `geode restore ...` (cli/backup.ts); their usage mistakes exit 2. */
async function runBackup(command: 'backup' | 'restore', args: string[]): Promise<number> {
  const backup = await import('./backup.js');
  const io = { out: (text: string) => void process.stdout.write(text), err: (text: string) => void process.stderr.write(text), tty: process.stderr.isTTY === true };
  try {
    return await (command === 'backup' ? backup.runBackupCommand(args, io) : backup.runRestoreCommand(args, io));
  } catch (error) {
    if (error instanceof backup.BackupUsageError) throw new UsageError(error.message);
    throw error;
  }
}

function printUsage(): number {
  process.stdout.write(USAGE);
  return 0;
}

/** Prints the startup line scripts wait for, and arranges a clean shutdown. */
function announce(nodes: RunningNode[]): 'running' {
  for (const node of nodes) shutdown.add(() => node.close());
  process.stdout.write(`${JSON.stringify({ nodes: nodes.map(({ id, url }) => ({ id, url })) })}\n`);
  return 'running';
}

// Installed before anything starts, so a signal during startup still exits cleanly.
const shutdown = new ShutdownOnSignals((line) => process.stderr.write(`geode: ${line}\n`));
const outcome = await main(process.argv.slice(2));
if (outcome !== 'running') {
  shutdown.dispose();
  process.exitCode = outcome;
}
