import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const dir = join(import.meta.dirname, '../../../storage-node/raft');
const forbidden = [/from 'node:/, /from "node:/, /require\(/, /Date\.now/, /new Date\(/, /Math\.random/, /setTimeout|setInterval|setImmediate|queueMicrotask/, /\bprocess\./, /performance\.now/];

t.test('the consensus core does no IO, reads no clock and no ambient randomness', async (t) => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  t.ok(files.length >= 10, 'found the core sources');
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const pattern of forbidden) t.notMatch(text, pattern, `${file} avoids ${pattern}`);
    for (const m of text.matchAll(/from '([^']+)'/g)) t.ok(m[1]?.startsWith('./'), `${file} imports only the core (${m[1]})`);
  }
});
