// The backup suite (test/helpers/backup-suite.ts) against a file:// destination; the restored
// cluster is started with `geode dev --data-dir`.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupSuite } from '../../helpers/backup-suite.js';

t.test('backups to a file:// destination', async (t) => {
  const archive = mkdtempSync(join(tmpdir(), 'geode-archive-'));
  t.teardown(() => rmSync(archive, { recursive: true, force: true }));
  await backupSuite(t, { destination: `file://${join(archive, 'backups', 'geode')}`, start: 'dev' });
});
