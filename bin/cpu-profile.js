// Diagnostics: GEODE_CPU_PROFILE=path-%p.cpuprofile records the calling thread (main thread or worker) for
// GEODE_CPU_PROFILE_MS (default 10 s), starting GEODE_CPU_PROFILE_DELAY_MS (default 0) after start-up; %p becomes the pid, plus `-t<threadId>` in a worker
// (--cpu-prof is not allowed in NODE_OPTIONS, and it would not cover worker threads started with eval).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

export function maybeStartCpuProfile() {
  const pattern = process.env.GEODE_CPU_PROFILE;
  if (!pattern) return;
  const delay = Number(process.env.GEODE_CPU_PROFILE_DELAY_MS ?? 0);
  if (delay > 0) {
    setTimeout(() => record(pattern), delay).unref();
    return;
  }
  record(pattern);
}

function record(pattern) {
  const session = new Session();
  session.connect();
  const tag = threadId === 0 ? String(process.pid) : `${process.pid}-t${threadId}`;
  session.post('Profiler.enable', () =>
    session.post('Profiler.start', () => {
      const timer = setTimeout(() => {
        session.post('Profiler.stop', (err, result) => {
          if (!err) writeFileSync(pattern.replace('%p', tag), JSON.stringify(result.profile));
        });
      }, Number(process.env.GEODE_CPU_PROFILE_MS ?? 10000));
      timer.unref();
    }),
  );
}
