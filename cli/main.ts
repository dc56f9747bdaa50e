/**
 * The `geode` command. Each subcommand parses its own options; usage errors
 * exit 2, runtime failures exit 1, long-running commands exit 0 on SIGINT/SIGTERM.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { ConfigError, loadNodeConfig } from '../shared/config/index.js';
import type { NodeLaunch, RunningNode } from './serve.js';
import { ShutdownOnSignals } from './signals.js';

const USAGE = `Usage: geode <command> [options]

Commands:
  dev [--data-dir DIR] [--port N]     run Geode on 127.0.0.1 (data in ./data, port 3141)
  node --config FILE [--id NODE]      run one storage node from a YAML config
  help                                show this text

Common options:
  --log-level LEVEL                   pino level for the logs on stderr (default info)
  -h, --help                          show this text

On start, long-running commands print one JSON line to stdout:
  {"nodes":[{"id":"node1","url":"http://127.0.0.1:3141"}]}
`;

/** A usage mistake: report it with the usage text, exit 2. */
class UsageError extends Error {}

type Command = (args: string[]) => Promise<number | 'running'>;

const commands: Readonly<Record<string, Command>> = {
  dev: runDev,
  node: runNode,
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
  try {
    return parseArgs({ args, options: { ...commonOptions, ...options }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function checkLogLevel(level: string): string {
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${text}`);
  return port;
}

/** `geode dev`: one node on 127.0.0.1 for now; the replication issue grows it to a 3-node cluster and a gateway. */
async function runDev(args: string[]): Promise<number | 'running'> {
  const values = parseOptions(args, {
    'data-dir': { type: 'string', default: 'data' },
    port: { type: 'string', default: '3141' },
  });
  if (values.help) return printUsage();
  const dataDir = resolve(values['data-dir']);
  const node = await startNode({
    id: 'node1',
    host: '127.0.0.1',
    port: parsePort(values.port),
    dataDir: resolve(dataDir, 'node1'),
    logLevel: checkLogLevel(values['log-level']),
  });
  return announce([node]);
}

async function runNode(args: string[]): Promise<number | 'running'> {
  const values = parseOptions(args, { config: { type: 'string' }, id: { type: 'string' } });
  if (values.help) return printUsage();
  if (values.config === undefined) throw new UsageError('node: --config FILE is required');
  const config = loadNodeConfig(values.config, values.id === undefined ? {} : { nodeId: values.id });
  const node = await startNode({
    id: config.id,
    host: config.listen.host,
    port: config.listen.port,
    dataDir: config.dataDir,
    ...(config.region === undefined ? {} : { region: config.region }),
    logLevel: checkLogLevel(values['log-level']),
  });
  return announce([node]);
}

/** Loaded on demand so `geode --help` never pays for (or depends on) the engine and server. */
async function startNode(launch: NodeLaunch): Promise<RunningNode> {
  const serve = await import('./serve.js');
  return serve.startNode(launch);
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
