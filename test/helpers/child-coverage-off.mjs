// Loaded into every test process (package.json tap "node-arg"), after tap's own coverage hook has
// started this process's coverage. It turns coverage off for the processes a test spawns: the geode
// nodes, gateways and CLI runs that process tests start. They load our TypeScript through tsx, and
// merging their V8 coverage with the test processes' (transpiled by tap) made the report worse, not
// better: on one CI run's data the totals were 89% of statements from the test processes alone and
// 80% with the 149 spawned processes merged in (one node's coverage lowered executor.ts from 88% to
// 52%), which failed the thresholds depending on which processes happened to run. What the process
// tests check is behaviour; the thresholds measure the test processes.
process.env._TAPJS_PROCESSINFO_COVERAGE_ = '0';
