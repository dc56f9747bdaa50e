/**
 * The `geode` command. Each subcommand parses its own options; usage errors
 * exit 2, runtime failures exit 1, long-running commands exit 0 on SIGINT/SIGTERM.
 */
import cluster from 'node:cluster';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { ConfigError, formatByteSize, loadNodeConfig } from '../shared/config/index.js';
import type { RunningNode } from './serve.js';
import { CLUSTER_SUBCOMMANDS, CommandFailed } from './cluster.js';
import { ShutdownOnSignals } from './signals.js';

const USAGE = `Usage: geode <command> [options]

Commands:
  dev [--data-dir DIR] [--nodes N] [--gateways G] [--base-port P] [--front-port P]
                                      run a 3-node cluster on 127.0.0.1:3151-3153 (data in ./data)
                                      and the gateway on 127.0.0.1:3141 (G gateways: 3141, 3142, ...)
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
  help                                show this text

Common options:
  --log-level LEVEL                   pino level for the logs on stderr (default info)
  -h, --help                          show this text

On start, long-running commands print one JSON line to stdout:
  node:    {"nodes":[{"id":"node1","url":"http://127.0.0.1:3151"}]}
  dev:     {"nodes":[...],"gateway":"http://127.0.0.1:3141"} (with --gateways 2, also "gateways":[url1,url2])
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
  });
  if (values.help) return printUsage();
  const options = {
    dataDir: resolve(values['data-dir']),
    nodes: parseCount(values.nodes, '--nodes', 1),
    basePort: parsePort(values['base-port'], '--base-port'),
    frontPort: parsePort(values['front-port'], '--front-port'),
    gateways: parseCount(values.gateways, '--gateways', 1),
    logLevel: checkLogLevel(values['log-level']),
  };
  const dev = await import('./dev.js');
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
    },
    true,
  );
  if (values.help) return printUsage();
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(`cluster: a subcommand is required (${CLUSTER_SUBCOMMANDS.join(', ')})`);
  if (!(CLUSTER_SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`cluster: unknown subcommand ${sub}`);
  const cluster = await import('./cluster.js');
  return cluster.runClusterCommand(sub, {
    url: values.url,
    json: values.json,
    token: values.token,
    dataDir: resolve(values['data-dir']),
    target: values.target,
    timeoutSeconds: parseCount(values.timeout, '--timeout', 1),
    positionals: rest,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
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
