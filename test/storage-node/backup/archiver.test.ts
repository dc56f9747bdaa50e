// The archiver alone (storage-node/backup/archiver.ts), in this process, against a file:// destination:
// the first base, segments with their sidecars and the manifest, continuing from the manifest in a new
// session (a new leader), a second writer losing the manifest race, a foreign lineage refused, a gap
// recorded as a break, retention, and restores of what it wrote.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Archiver } from '../../../storage-node/backup/archiver.js';
import { GraphStateMachine } from '../../../storage-node/replication/state-machine.js';
import { encodeCommand } from '../../../storage-node/replication/command.js';
import { openDestination } from '../../../storage-node/backup/destination.js';
import { allSegments, readManifest, restore } from '../../../storage-node/backup/restore.js';
import { verifyBackup } from '../../../storage-node/backup/verify.js';
import { chainProblems, sha256Hex } from '../../../storage-node/backup/format.js';
import type { Entry } from '../../../storage-node/raft/messages.js';
import type { BackupConfig } from '../../../shared/protocol/backup.js';
import type { Session } from '../../../storage-node/backup/archiver.js';

t.test('the archiver stores a chain that restores exactly, across sessions, and refuses what is not its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-archiver-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const destinationUrl = `file://${join(dir, 'archive')}`;
  const config: BackupConfig = { mode: 'continuous', destination: destinationUrl, retention_ms: 3_600_000, segment_ms: 1000, segment_entries: 100, base_interval_ms: 3_600_000, lineage: 'lineage-a', configured_at: new Date().toISOString() };
  const session = (node: string, term: number): Session => ({ config, clusterId: 'test', node, term });
  const machine = new GraphStateMachine(join(dir, 'graph.db'));
  t.teardown(() => machine.close());
  let index = 0;
  const write = (i: number, now: number): Entry => ({ index: ++index, term: 2, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:Item {i: $i})', params: { i }, now, seed: 's', requestId: `w${index}` }) });
  const apply = (entries: Entry[]): Entry[] => {
    machine.apply(entries);
    return entries;
  };

  const first = new Archiver();
  const fresh = await first.activate(session('n1', 2));
  t.equal(fresh.position, undefined, 'an empty destination needs a base first');
  await t.rejects(first.segment([write(99, 1)]), /the archive continues at a base/, 'no segment before the base');
  index = 0;
  apply([write(0, 1_000), write(1, 1_001)]);
  await machine.snapshotTo(join(dir, 'image-1.db'));
  const base = await first.base(join(dir, 'image-1.db'));
  t.same([base.index, base.time], [2, 1_001], 'the base says the index and commit time its image holds');
  const archive = await openDestination(destinationUrl);
  t.teardown(() => archive.close());
  t.equal(readFileSync(join(dir, 'archive', `${base.key}.sha256`), 'utf8').split(' ')[0], sha256Hex(readFileSync(join(dir, 'archive', base.key))), 'a sidecar in sha256sum format');

  await first.segment(apply([write(2, 1_010), write(3, 1_005), write(4, 1_020)]));
  await first.segment(apply([write(5, 1_030)]));
  const { manifest } = await readManifest(archive);
  t.same(manifest.segments.map((s) => [s.first, s.last, s.first_time, s.last_time]), [[3, 5, 1_010, 1_020], [6, 6, 1_030, 1_030]], 'commit times as apply computes them (1,005 came after 1,010)');

  // A new leader: it continues from the manifest, with the clock recorded there.
  const second = new Archiver();
  const resumed = await second.activate(session('n2', 3));
  t.same(resumed.position, { next: 7, clock: 1_030 }, 'the next leader continues after the last archived entry');
  await second.segment(apply([write(6, 1_000), write(7, 1_040)]));
  const after = await readManifest(archive);
  t.same(after.manifest.segments.map((s) => [s.first, s.last_time]), [[3, 1_020], [6, 1_030], [7, 1_040]]);
  t.equal(after.manifest.writer.node, 'n2');

  // The deposed leader writes late (the same range the new leader archived): its manifest write loses.
  const lateEntry: Entry = { index: 7, term: 2, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:Item {i: $i})', params: { i: 6 }, now: 1_000, seed: 's', requestId: 'w7' }) };
  const late = await first.segment([lateEntry]).catch((e: unknown) => e);
  t.match(late, { code: 'BACKUP_DESTINATION', detail: 'ManifestConflict' }, 'a writer that read an older manifest cannot overwrite a newer one');

  // Another lineage's manifest is never adopted.
  const stranger = new Archiver();
  await t.rejects(stranger.activate({ ...session('x', 9), config: { ...config, lineage: 'lineage-b' } }), { code: 'BACKUP_DESTINATION', detail: 'ForeignArchive' });

  // Everything the second archiver stored restores exactly.
  const restored = await restore({ from: destinationUrl, dataDir: join(dir, 'restored'), nodes: ['node1'] });
  t.same([restored.index, restored.entries_replayed], [8, 6]);
  const atTime = await restore({ from: destinationUrl, at: 1_020, dataDir: join(dir, 'restored-1020'), nodes: ['node1'] });
  t.equal(atTime.index, 5, 'at 1,020: through the entry committed at 1,020, not the one at 1,030');
  t.ok((await verifyBackup({ from: destinationUrl })).ok, 'verify passes');
  const points = await second.restorePoints();
  t.equal(points.last_index, 8);

  // The log lost entries before they were archived: the next base restarts the chain after a break.
  second.markGap();
  apply([write(8, 1_060), write(9, 1_070), write(10, 1_080)]);
  await machine.snapshotTo(join(dir, 'image-2.db'));
  const rebase = await second.base(join(dir, 'image-2.db'));
  t.equal(rebase.index, 11);
  const broken = await readManifest(archive);
  t.same(broken.manifest.breaks.map((b) => [b.after, b.resume]), [[8, 12]], 'the hole is recorded');
  await second.segment(apply([write(11, 1_090)]));
  const segments = await allSegments(archive, (await readManifest(archive)).manifest);
  t.same(chainProblems((await readManifest(archive)).manifest, segments), [], 'a recorded break is no gap');
  const report = await verifyBackup({ from: destinationUrl });
  t.notOk(report.ok, 'verify reports the break');
  t.ok(report.problems.some((p) => p.includes('break: entries 9..11')), report.problems.join('; '));

  // Retention: a window that starts after the second base drops the first base and the segments before the second.
  const deleted = await second.retain(1_085 + 60_000, 60_000);
  t.ok(deleted > 0, `retention deleted ${deleted} objects`);
  const kept = (await readManifest(archive)).manifest;
  t.same(kept.bases.map((b) => b.index), [11]);
  t.same(kept.breaks, [], 'the break the kept base covers is gone too');
  t.ok((await verifyBackup({ from: destinationUrl })).ok, 'verify passes after retention');
  t.equal(await archive.get(base.key), undefined, 'the old base object is deleted');
  const last = await restore({ from: destinationUrl, dataDir: join(dir, 'restored-last'), nodes: ['node1', 'node2'] });
  t.same([last.index, last.nodes.length], [12, 2], 'a restore after retention, into two node directories');

  // The writer stopped between writing the manifest and its sidecar (a leader killed, a node shut
  // down): the sidecar names the previous manifest. The manifest's own checksum still vouches for it.
  const manifestPath = join(dir, 'archive', 'manifest.json');
  const sidecarPath = `${manifestPath}.sha256`;
  const current = readFileSync(sidecarPath, 'utf8');
  writeFileSync(sidecarPath, current.replace(/^[0-9a-f]{64}/, 'f'.repeat(64)));
  const stale = await readManifest(archive);
  t.equal(stale.staleSidecar, true, 'read, and said to have a stale sidecar');
  t.same(stale.manifest.bases.map((b) => b.index), [11]);
  const staleReport = await verifyBackup({ from: destinationUrl });
  t.ok(staleReport.ok, `verify passes: ${staleReport.problems.join('; ')}`);
  t.match(staleReport.checks.find((c) => c.step === 'checksums')?.summary, /names an earlier manifest/, 'and says what it found');
  t.same((await restore({ from: destinationUrl, dataDir: join(dir, 'restored-stale'), nodes: ['node1'] })).index, 12, 'a restore goes ahead');
  // The next manifest write puts the pair right again.
  await second.segment(apply([write(12, 1_100)]));
  t.equal((await readManifest(archive)).staleSidecar, false, 'the next write rewrites both');
  // A flipped byte in the manifest itself is corruption, whatever the sidecar says.
  const text = readFileSync(manifestPath, 'utf8');
  const flipped = text.replace('"generation": ', '"generation": 1');
  t.not(flipped, text);
  writeFileSync(manifestPath, flipped);
  writeFileSync(sidecarPath, `${sha256Hex(flipped)}  manifest.json\n`);
  await t.rejects(readManifest(archive), { code: 'BACKUP_CORRUPT', message: /does not match its own checksum/ }, 'even with a sidecar that matches it');
  writeFileSync(manifestPath, text);
  second.deactivate();
  first.deactivate();
});
