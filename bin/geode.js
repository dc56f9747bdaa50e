#!/usr/bin/env node
// Runs the TypeScript CLI directly: tsx compiles it on load, so there is no build step.
import { register } from 'tsx/esm/api';

register();
// GEODE_CPU_PROFILE: see cpu-profile.js.
if (process.env.GEODE_CPU_PROFILE) (await import('./cpu-profile.js')).maybeStartCpuProfile();
await import('../cli/main.ts');
