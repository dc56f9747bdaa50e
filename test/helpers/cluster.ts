/**
 * A cluster launched in a fresh temp dir (`<tmp>/<prefix>XXXXXX`), stopped and its dir deleted in
 * the test's teardown: every test that starts real node processes goes through here, so none
 * leaves data dirs behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchCluster } from '../../cli/launcher.js';
import type { LaunchOptions, LaunchedCluster } from '../../cli/launcher.js';

export async function launchTempCluster(t: { teardown(fn: () => unknown): void }, prefix: string, options: Omit<LaunchOptions, 'dataDir'>): Promise<LaunchedCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const cluster = await launchCluster({ ...options, dataDir });
  t.teardown(async () => {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return cluster;
}
