// The backup setting (storage-node/backup/config.ts), its replicated state
// (replication/backup-state.ts, applied by the state machine in the batch's transaction),
// destination URLs, and the file destination's conditional manifest write.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromRequest } from '../../../storage-node/backup/config.js';
import { parseDestination } from '../../../storage-node/backup/destination.js';
import { FileDestination } from '../../../storage-node/backup/file-destination.js';
import { applyBackupCommand, NO_BACKUP } from '../../../storage-node/replication/backup-state.js';
import { decodeCommand, encodeRegionCommand } from '../../../storage-node/replication/command.js';
import { GraphStateMachine } from '../../../storage-node/replication/state-machine.js';
import { encodeCommand } from '../../../storage-node/replication/command.js';
import type { BackupConfig } from '../../../shared/protocol/backup.js';

const now = new Date('2026-01-01T00:00:00Z');

t.test('configure: defaults, durations, every problem at once, the lineage kept with the destination', async (t) => {
  const config = configFromRequest({ mode: 'continuous', destination: 's3://backups/geode', retention: '30d' }, null, now)!;
  t.same([config.retention_ms, config.segment_ms, config.segment_entries, config.base_interval_ms], [30 * 86_400_000, 1_000, 4_096, 6 * 3_600_000]);
  const again = configFromRequest({ mode: 'continuous', retention: '7d' }, config, now)!;
  t.equal(again.lineage, config.lineage, 'same destination, same lineage');
  t.equal(again.destination, 's3://backups/geode', 'the destination carries over');
  const moved = configFromRequest({ mode: 'continuous', destination: 'file:///var/backups' }, config, now)!;
  t.not(moved.lineage, config.lineage, 'a new destination starts a new chain');
  t.equal(configFromRequest({ mode: 'off' }, config, now), null);
  t.throws(() => configFromRequest({ mode: 'continuous', destination: 'ftp://x', retention: 'soon', segment_interval: '1ms' }, null, now), /destination: unsupported scheme.*retention: expected a duration.*segment_interval: at least 10 ms/);
  t.throws(() => configFromRequest({ mode: 'continuous' }, null, now), /destination: required/);
});

t.test('destination URLs: file paths, S3 buckets and prefixes, path style from the URL or the environment', async (t) => {
  t.same(parseDestination('file:///var/backups/geode/'), { kind: 'file', path: '/var/backups/geode', url: 'file:///var/backups/geode/' });
  t.match(parseDestination('s3://backups/geode/prod'), { kind: 's3', bucket: 'backups', prefix: 'geode/prod', pathStyle: false });
  t.match(parseDestination('s3://backups?path_style=true&endpoint=http://127.0.0.1:9000&region=eu-west-1'), { prefix: '', pathStyle: true, endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' });
  process.env['GEODE_S3_FORCE_PATH_STYLE'] = '1';
  t.match(parseDestination('s3://backups/geode'), { pathStyle: true });
  delete process.env['GEODE_S3_FORCE_PATH_STYLE'];
  t.throws(() => parseDestination('file://host/x'), /local path/);
  t.throws(() => parseDestination('s3://B/x'), /not an S3 bucket name/);
  t.throws(() => parseDestination('s3://key:secret@backups/x'), /credentials never go in the URL/);
  t.throws(() => parseDestination('s3://backups/x?acl=public'), /unknown parameter acl/);
});

t.test('the replicated state: a new setting replaces the old; progress only forward, only for the current lineage', async (t) => {
  const config = configFromRequest({ mode: 'continuous', destination: 'file:///b' }, null, now) as BackupConfig;
  let state = applyBackupCommand(NO_BACKUP, { kind: 'backup', config });
  state = applyBackupCommand(state, { kind: 'backup', archived: { index: 50, time: 5, lineage: config.lineage } });
  t.same(state.archived, { index: 50, time: 5, lineage: config.lineage });
  t.equal(applyBackupCommand(state, { kind: 'backup', archived: { index: 40, time: 4, lineage: config.lineage } }), state, 'a late, older position changes nothing');
  t.equal(applyBackupCommand(state, { kind: 'backup', archived: { index: 60, time: 6, lineage: 'other' } }), state, 'another lineage changes nothing');
  t.same(applyBackupCommand(state, { kind: 'backup', config: { ...config, retention_ms: 1 } }).archived?.index, 50, 'same lineage: progress kept');
  t.same(applyBackupCommand(state, { kind: 'backup', config: null }), NO_BACKUP, 'off forgets it');
  t.same(decodeCommand(encodeRegionCommand({ kind: 'backup', config })), { kind: 'backup', config }, 'the entry round-trips');
  t.same(decodeCommand(new TextEncoder().encode('{"k":"backup","archived":{"index":"x"}}')), { kind: 'backup' }, 'a malformed part is left out');
});

t.test('the state machine applies backup entries in the batch, keeps them across reopen, and stamps writes with their commit time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-backup-sm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'graph.db');
  const config = configFromRequest({ mode: 'continuous', destination: 'file:///b' }, null, now) as BackupConfig;
  const machine = new GraphStateMachine(path);
  const outcomes = machine.apply([
    { index: 1, term: 1, type: 'normal', data: encodeRegionCommand({ kind: 'backup', config }) },
    { index: 2, term: 1, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:A)', params: {}, now: 1_000, seed: 's', requestId: 'r1' }) },
    { index: 3, term: 1, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:A)', params: {}, now: 900, seed: 's', requestId: 'r2' }) },
    { index: 4, term: 1, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:A)', params: {}, now: 2_000, seed: 's', requestId: 'r1' }) },
  ]);
  t.same(outcomes.map((o) => (o.ok && o.requestId !== null ? o.at : null)), [null, 1_000, 1_000, 1_000], 'commit times: the clock is monotonic, and a retry answers its first commit time');
  t.same(machine.backupState().config, config);
  machine.close();
  const reopened = new GraphStateMachine(path);
  t.same(reopened.backupState().config, config, 'kept in the graph database');
  reopened.close();
});

t.test('the file destination writes whole objects and the manifest only over the version it read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-backup-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const destination = new FileDestination(join(dir, 'archive'), `file://${dir}/archive`);
  await destination.put('segments/a', 'hello');
  t.equal((await destination.get('segments/a'))?.toString(), 'hello');
  t.equal(await destination.get('segments/none'), undefined);
  t.same(await destination.list('segments/'), ['segments/a']);
  const first = await destination.putIfVersion('manifest.json', 'v1', null);
  t.not(first, 'conflict', 'created where none was');
  t.equal(await destination.putIfVersion('manifest.json', 'v1b', null), 'conflict', 'a second creator loses');
  const second = await destination.putIfVersion('manifest.json', 'v2', first as string);
  t.not(second, 'conflict');
  t.equal(await destination.putIfVersion('manifest.json', 'stale', first as string), 'conflict', 'a writer that read v1 cannot overwrite v2');
  t.equal((await destination.get('manifest.json'))?.toString(), 'v2');
  await destination.delete(['segments/a', 'segments/none']);
  t.same(await destination.list(''), ['manifest.json']);
  await t.rejects(destination.get('../../etc/passwd'), { code: 'BACKUP_DESTINATION' }, 'keys stay inside the destination');
});
