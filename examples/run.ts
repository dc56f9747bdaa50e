/** Runs an example's `main` when its file is the process entry point, printing the result as JSON. */
import { pathToFileURL } from 'node:url';

export function runIfMain(moduleUrl: string, main: (args: string[]) => Promise<unknown>): void {
  const entry = process.argv[1];
  if (entry === undefined || pathToFileURL(entry).href !== moduleUrl) return;
  main(process.argv.slice(2)).then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

/** `geode dev`'s gateway. */
export const DEFAULT_URL = 'http://127.0.0.1:3141';
