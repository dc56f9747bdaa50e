/**
 * `geode gateway --config gateway.yaml [--workers N]`: one gateway on its
 * own. With N > 1 workers, node:cluster forks N processes that share the
 * listening socket (the primary hands out connections), so the gateway can
 * use every core; the primary only supervises.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { loadGatewayConfig, relayAcknowledgedIndexes, startGateway } from '../gateway/index.js';
import type { GatewayConfig, RunningGateway } from '../gateway/index.js';

export interface GatewayProcess {
  /** The address clients use (port 0 resolved). */
  url: string;
  workers: number;
  close(): Promise<void>;
}

/** Message a worker sends its primary once listening. */
interface ListeningMessage {
  geodeGatewayUrl: string;
}

const isListening = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' && message !== null && typeof (message as Partial<ListeningMessage>).geodeGatewayUrl === 'string';

/** Primary -> worker: shut down cleanly (a signal could arrive twice when a terminal's Ctrl-C reached the worker too). */
const STOP_MESSAGE = 'geode-gateway-stop';

const STOP_GRACE_MS = 5_000;

/**
 * Runs the gateway in this process, or (primary with workers > 1) forks workers that do.
 * In a worker, `onStopRequest` is called when the primary asks it to stop.
 */
export async function runGateway(configPath: string, workers: number, logLevel: string, onStopRequest: () => void): Promise<GatewayProcess> {
  const config = loadGatewayConfig(configPath);
  if (workers <= 1 || cluster.isWorker) {
    const gateway = await startGatewayLogged(config, logLevel);
    if (cluster.isWorker) {
      process.on('message', (message: unknown) => {
        if (message === STOP_MESSAGE) onStopRequest();
      });
      process.send?.({ geodeGatewayUrl: gateway.url } satisfies ListeningMessage);
    }
    return { url: gateway.url, workers: 1, close: () => gateway.close() };
  }
  return forkWorkers(workers);
}

function startGatewayLogged(config: GatewayConfig, logLevel: string): Promise<RunningGateway> {
  // Fastify's logger stays off the hot path unless debugging: at 'info' it logs every request.
  return startGateway(config, logLevel === 'debug' || logLevel === 'trace' ? { logger: { level: logLevel } } : {});
}

async function forkWorkers(count: number): Promise<GatewayProcess> {
  const forked: Worker[] = [];
  const exited = new Map<Worker, Promise<void>>();
  const listening = new Set<Worker>();
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const worker of forked) {
      if (worker.process.exitCode !== null || worker.process.signalCode !== null) continue;
      // Before it listens, a worker has no stop handler yet: a signal is the only way.
      if (worker.isConnected() && listening.has(worker)) worker.send(STOP_MESSAGE);
      else worker.process.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      for (const worker of forked) worker.process.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await Promise.all(exited.values());
    clearTimeout(timer);
  };
  // Read-your-writes across workers: a write acknowledged by one worker is known to its siblings first.
  relayAcknowledgedIndexes(cluster);
  try {
    const urls = await Promise.all(
      Array.from({ length: count }, () => {
        const worker = cluster.fork();
        forked.push(worker);
        exited.set(worker, new Promise((resolve) => worker.once('exit', () => resolve())));
        return new Promise<string>((resolve, reject) => {
          worker.on('message', (message: unknown) => {
            if (!isListening(message)) return;
            listening.add(worker);
            resolve(message.geodeGatewayUrl);
          });
          worker.once('exit', (code, signal) => {
            const why = `gateway worker ${worker.id} exited (code ${String(code)}, signal ${String(signal)})`;
            reject(new Error(why));
            if (!stopping) process.stderr.write(`geode: ${why}\n`);
          });
        });
      }),
    );
    return { url: urls[0]!, workers: count, close: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
