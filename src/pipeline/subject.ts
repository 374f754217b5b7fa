import type { Repository } from '../registry/types.ts';

/** The digest a manifest's `subject` names (the image a referrer artifact is about); undefined when it has none. */
export async function manifestSubject(repository: Repository, digest: string): Promise<string | undefined> {
  const manifest = await repository.getManifest(digest);
  const subject = (manifest?.json as { subject?: { digest?: unknown } } | undefined)?.subject?.digest;
  return typeof subject === 'string' ? subject : undefined;
}

/** Whether the repository has a manifest at `digest`: false for a 404, a throw for any failure. */
export async function manifestExists(repository: Repository, digest: string): Promise<boolean> {
  return (await repository.getManifest(digest)) !== undefined;
}
