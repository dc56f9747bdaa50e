// The backup suite (test/helpers/backup-suite.ts) against an s3:// destination: a real S3-protocol
// server, moto's (`python3 -m moto.server`, installed by .ci/run), started here on a loopback port,
// reached through @aws-sdk/client-s3 with path-style addressing. The restored cluster is started with
// `geode node --config` for each node. Skipped, saying so, only where moto is not installed.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import { freePort } from '../../../cli/launcher.js';
import { backupSuite } from '../../helpers/backup-suite.js';
import { until } from '../../helpers/http.js';

const moto = spawnSync('python3', ['-c', 'import moto.server, flask'], { stdio: 'ignore' });
if (moto.status !== 0) {
  t.comment('SKIP: moto is not installed here (pip install "moto[server]"; .ci/run installs it), so the s3:// suite cannot run');
  t.pass('skipped: no S3-protocol server to test against');
} else {
  t.test('backups to an s3:// destination (moto server)', async (t) => {
    const port = await freePort('127.0.0.1');
    const server = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    t.teardown(() => {
      server.kill('SIGTERM');
    });
    const endpoint = `http://127.0.0.1:${port}`;
    // Credentials as the SDK reads them (the nodes get the same environment); the endpoint rides in the URL.
    const env = { AWS_ACCESS_KEY_ID: 'geode-test', AWS_SECRET_ACCESS_KEY: 'geode-test-secret', AWS_REGION: 'us-east-1' };
    Object.assign(process.env, env);
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
    t.teardown(() => s3.destroy());
    await until('the moto server', async () => ((await s3.send(new CreateBucketCommand({ Bucket: 'geode-backups' })).then(() => true, () => undefined)) ? true : undefined), 30_000, 200);
    await backupSuite(t, { destination: `s3://geode-backups/clusters/geode?endpoint=${encodeURIComponent(endpoint)}&path_style=true`, env, start: 'node-config' });
  });
}
