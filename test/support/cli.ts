import { run } from '../../src/cli/main.ts';
import { testNow } from './clock.ts';
import type { Verdict } from '../../src/verify/verdict.ts';

/** Runs the CLI in process and captures what it prints. */
export async function sigwatch(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string; json: () => Verdict }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: (s) => (stdout += `${s}\n`), stderr: (s) => (stderr += `${s}\n`), now: testNow });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as Verdict };
}
