// The backup suite (test/helpers/backup-suite.ts) against a file:// destination; the restored
// cluster is started with `geode dev --data-dir`.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupSuite } from '../../helpers/backup-suite.js';

t.test('backups to a file:// destination', async (t) => {
  const archive = mkdtempSync(join(tmpdir(), 'geode-archive-'));
  t.teardown(() => rmSync(archive, { recursive: true, force: true }));
  const root = join(archive, 'backups', 'geode');
  await backupSuite(t, {
    destination: `file://${root}`,
    start: 'dev',
    // A file where the archive's segments directory was: every write under it fails (even for root).
    failure: async () => {
      await rename(join(root, 'segments'), join(archive, 'segments-aside'));
      await writeFile(join(root, 'segments'), 'not a directory');
      return async () => {
        await rm(join(root, 'segments'));
        await rename(join(archive, 'segments-aside'), join(root, 'segments'));
      };
    },
  });
});
