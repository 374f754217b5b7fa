import { SigwatchError } from '../errors.ts';
import { ACCOUNT_ID_RE, REGION_RE, REPOSITORY_RE } from '../registry/providers/ecr-names.ts';

/**
 * The messages of the `reverify` queue (docs/reverify.md). Two kinds:
 * - `images`: up to IMAGES_PER_MESSAGE images of one repository, for the worker to verify;
 * - `plan`: a listing the planner could not finish in its invocation, with
 *   the cursor to resume from (the worker function hands it back to the planner).
 * Both carry the run they belong to, so that the run's counters add up.
 */

export const MESSAGE_VERSION = 1;
export type RunTrigger = 'reverify' | 'policy-change';

/** Images per `images` message: about 6 KB of JSON, and a worker's share small enough to finish well within its timeout. */
export const IMAGES_PER_MESSAGE = 50;

export interface ImageEntry {
  digest: string;
  tags: string[];
}

export interface ImagesMessage {
  sigwatch: 'reverify';
  version: typeof MESSAGE_VERSION;
  kind: 'images';
  runId: string;
  /** Stable for the same images of the same run: a message sent twice (planner retried) is counted once. */
  batchId: string;
  trigger: RunTrigger;
  account: string;
  region: string;
  repository: string;
  images: ImageEntry[];
}

/**
 * Where a listing stopped: the DescribeRepositories page it was on (its
 * token), how many of that page's repositories were finished, and the
 * DescribeImages token inside the next one.
 */
export interface PlanCursor {
  repositoriesToken?: string;
  repositoriesDone: number;
  imagesToken?: string;
}

/** Restricts a plan to some repositories (a policy change): only those whose images one of these globs could match. */
export interface PlanScope {
  globs: string[];
}

export interface PlanMessage {
  sigwatch: 'reverify';
  version: typeof MESSAGE_VERSION;
  kind: 'plan';
  runId: string;
  trigger: RunTrigger;
  account: string;
  region: string;
  scope?: PlanScope;
  cursor: PlanCursor;
  /** Invocations this listing has taken so far: a listing that never ends is stopped and reported. */
  hop: number;
}

export type ReverifyMessage = ImagesMessage | PlanMessage;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const RUN_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** A queue message body → a message, or why it is not one (the record then goes to the DLQ). */
export function parseReverifyMessage(body: string): { ok: true; message: ReverifyMessage } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  try {
    return { ok: true, message: readMessage(value) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

function readMessage(value: unknown): ReverifyMessage {
  const m = object(value, 'message');
  if (m.sigwatch !== 'reverify') throw invalid('sigwatch', 'expected "reverify"');
  if (m.version !== MESSAGE_VERSION) throw invalid('version', `expected ${MESSAGE_VERSION}, got ${JSON.stringify(m.version)}`);
  const runId = text(m, 'runId', RUN_ID_RE);
  const trigger = m.trigger;
  if (trigger !== 'reverify' && trigger !== 'policy-change') throw invalid('trigger', 'expected reverify or policy-change');
  const account = text(m, 'account', ACCOUNT_ID_RE);
  const region = text(m, 'region', REGION_RE);
  if (m.kind === 'images') {
    const images = m.images;
    if (!Array.isArray(images) || images.length === 0 || images.length > IMAGES_PER_MESSAGE) {
      throw invalid('images', `expected 1 to ${IMAGES_PER_MESSAGE} images`);
    }
    return {
      sigwatch: 'reverify',
      version: MESSAGE_VERSION,
      kind: 'images',
      runId,
      batchId: text(m, 'batchId', RUN_ID_RE),
      trigger,
      account,
      region,
      repository: text(m, 'repository', REPOSITORY_RE),
      images: images.map((item, i) => {
        const e = object(item, `images[${i}]`);
        const tags = e.tags;
        if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw invalid(`images[${i}].tags`, 'expected a list of tags');
        return { digest: text(e, 'digest', DIGEST_RE, `images[${i}].`), tags: tags as string[] };
      }),
    };
  }
  if (m.kind === 'plan') {
    const c = object(m.cursor, 'cursor');
    const done = c.repositoriesDone;
    if (typeof done !== 'number' || !Number.isInteger(done) || done < 0) throw invalid('cursor.repositoriesDone', 'expected a count');
    const hop = m.hop;
    if (typeof hop !== 'number' || !Number.isInteger(hop) || hop < 0) throw invalid('hop', 'expected a count');
    let scope: PlanScope | undefined;
    if (m.scope !== undefined) {
      const s = object(m.scope, 'scope');
      if (!Array.isArray(s.globs) || s.globs.some((g) => typeof g !== 'string')) throw invalid('scope.globs', 'expected a list of globs');
      scope = { globs: s.globs as string[] };
    }
    const token = (k: 'repositoriesToken' | 'imagesToken') => {
      if (c[k] === undefined) return {};
      if (typeof c[k] !== 'string' || c[k] === '') throw invalid(`cursor.${k}`, 'expected a token');
      return { [k]: c[k] };
    };
    return {
      sigwatch: 'reverify',
      version: MESSAGE_VERSION,
      kind: 'plan',
      runId,
      trigger,
      account,
      region,
      ...(scope ? { scope } : {}),
      cursor: { repositoriesDone: done, ...token('repositoriesToken'), ...token('imagesToken') },
      hop,
    };
  }
  throw invalid('kind', 'expected images or plan');
}

type Fields = Record<string, unknown>;

function object(v: unknown, where: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(where, 'expected an object');
  return v as Fields;
}

function text(m: Fields, key: string, re: RegExp, prefix = ''): string {
  const v = m[key];
  if (typeof v !== 'string' || !re.test(v)) throw invalid(`${prefix}${key}`, `invalid value ${JSON.stringify(v ?? null).slice(0, 80)}`);
  return v;
}

function invalid(path: string, message: string): SigwatchError {
  return new SigwatchError('CONFIG', `reverify message: ${path}: ${message}`);
}
