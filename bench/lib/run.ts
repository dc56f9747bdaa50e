/**
 * The frame every cluster benchmark runs in: flags, a temp dir, cleanups that
 * run on success, failure and Ctrl-C, a peer-binary check, and one JSON
 * object on stdout.
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface BenchContext {
  json: boolean;
  /** Fresh directory under the OS temp dir, removed at the end. */
  tempDir: string;
  /** Progress line on stderr (silent with --json). */
  progress(message: string): void;
  /** Registers a cleanup; cleanups run last-registered first. */
  onCleanup(fn: () => Promise<void> | void): void;
}

/** Absolute path of an executable on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Exits 2 with the install hint when a peer binary is missing. */
export function requireBinary(name: string, installHint: string): string {
  const found = findBinary(name);
  if (found !== undefined) return found;
  process.stderr.write(`${name} not found on PATH; it is this benchmark's peer. Install it with:\n  ${installHint}\n`);
  process.exit(2);
}

/** The 1-minute load average, noted beside results because the machine may be shared. */
/** Exits 2 with a hint when the `geode` entry point is not there (not a full checkout). */
export function requireGeodeBin(bin: string): void {
  if (existsSync(bin)) return;
  process.stderr.write(`geode entry point ${bin} is missing; run from a full checkout after \`npm ci\`\n`);
  process.exit(2);
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws `what` at the deadline. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const CLEANUP_BOUND_MS = 20_000;

export async function runBench(name: string, json: boolean, body: (ctx: BenchContext) => Promise<object>): Promise<void> {
  const tempDir = mkdtempSync(join(tmpdir(), `geode-bench-${name}-`));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(tempDir, { recursive: true, force: true })];
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      for (const fn of [...cleanups].reverse()) {
        try {
          await Promise.race([fn(), sleep(CLEANUP_BOUND_MS)]);
        } catch (error) {
          process.stderr.write(`cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })();
    return cleaned;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`${signal}: stopping the clusters\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: BenchContext = {
    json,
    tempDir,
    progress: (message) => {
      if (!json) process.stderr.write(`[${name}] ${message}\n`);
    },
    onCleanup: (fn) => cleanups.push(fn),
  };
  try {
    const result = await body(ctx);
    process.stdout.write(`${JSON.stringify(result, null, json ? undefined : 2)}\n`);
  } catch (error) {
    process.stderr.write(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
