#!/usr/bin/env node
// Runs the TypeScript CLI directly: tsx compiles it on load, so there is no build step.
import { register } from 'tsx/esm/api';

register();
// Diagnostics: GEODE_CPU_PROFILE=path-%p.cpuprofile (%p: the pid) records this process's main thread for
// GEODE_CPU_PROFILE_MS (default 10 s) after start-up (--cpu-prof is not allowed in NODE_OPTIONS).
if (process.env.GEODE_CPU_PROFILE) {
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable', () =>
    session.post('Profiler.start', () => {
      const timer = setTimeout(() => {
        session.post('Profiler.stop', (err, result) => {
          if (!err) writeFileSync(process.env.GEODE_CPU_PROFILE.replace('%p', String(process.pid)), JSON.stringify(result.profile));
        });
      }, Number(process.env.GEODE_CPU_PROFILE_MS ?? 10000));
      timer.unref();
    }),
  );
}
await import('../cli/main.ts');
