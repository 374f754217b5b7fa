import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SigwatchError } from '../../errors.ts';
import { isObject } from '../../json.ts';
import { parsePullSecret, secretIdUnder, type PullSecret, type PullSecretSource } from './pull-secrets.ts';

/**
 * Pull secrets from a folder of Kubernetes Secret manifests, for local runs
 * (`sigwatch verify|invoke --pull-secrets DIR`): the YAML that
 * `kubectl create secret docker-registry NAME --dry-run=client -o yaml` or
 * `kubectl get secret NAME -o yaml` writes, so the policy a team deploys
 * verifies locally unchanged.
 *
 * A secret is found by `metadata.name`, as policy-controller finds it, not by
 * its file name. policy-controller reads `signaturePullSecrets` from its own
 * namespace only, so `metadata.namespace` selects nothing here; what scopes
 * secrets to a team is the folder, as the prefix does in Secrets Manager:
 * a group with `secretsPrefix: sigwatch/acme/` reads `DIR/sigwatch/acme/`.
 * Only the folder's own files are read (`*.yaml`, `*.yml`, `*.json`), never
 * its subfolders, which are other teams' secrets.
 */

const MAX_FILE_BYTES = 1024 * 1024;
const MAX_FILES = 1000;
const MAX_ALIASES = 50;
const EXTENSIONS = /\.(ya?ml|json)$/i;

const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
const DOCKER_CFG = 'kubernetes.io/dockercfg';

interface Manifest {
  file: string;
  doc: Record<string, unknown>;
}

/** One team's folder of Secret manifests; read once, on the first lookup that needs a secret. */
export class LocalPullSecrets implements PullSecretSource {
  readonly #dir: string;
  #index: Promise<Map<string, Manifest[]>> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The folder of a team's secrets under `root`: its Secrets Manager prefix as a path, checked the same way. */
  static forPrefix(root: string, prefix: string): LocalPullSecrets {
    // The same rule as the Secrets Manager ids: no `..`, no absolute path, nothing outside `root`.
    const id = secretIdUnder(prefix)('x');
    return new LocalPullSecrets(join(root, ...id.split('/').slice(0, -1)));
  }

  locate(name: string): { id: string; label: string } {
    return { id: name, label: `pull secret "${name}" (in ${this.#dir})` };
  }

  async read(name: string, label: string): Promise<PullSecret> {
    const index = await (this.#index ??= this.#load());
    const found = index.get(name) ?? [];
    if (found.length === 0) {
      const known = [...index.keys()].sort();
      throw new SigwatchError(
        'CONFIG',
        `${label} not found: no Secret manifest there has metadata.name "${name}"${known.length > 0 ? ` (found: ${known.join(', ')})` : ' (no Secret manifests found)'}`,
      );
    }
    if (found.length > 1)
      throw new SigwatchError('CONFIG', `${label}: ${found.length} Secret manifests have that name (${found.map((m) => m.file).join(', ')})`);
    const { file, doc } = found[0]!;
    return parsePullSecret(secretValue(doc, `pull secret "${name}" (${file})`), `pull secret "${name}" (${file})`);
  }

  async #load(): Promise<Map<string, Manifest[]>> {
    let entries;
    try {
      entries = await readdir(this.#dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SigwatchError(
        'CONFIG',
        `pull secrets folder ${this.#dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot be read (${code ?? 'error'})`}`,
      );
    }
    const files = entries
      .filter((e) => e.isFile() && EXTENSIONS.test(e.name))
      .map((e) => e.name)
      .sort();
    if (files.length > MAX_FILES) throw new SigwatchError('CONFIG', `pull secrets folder ${this.#dir}: ${files.length} files, over the limit of ${MAX_FILES}`);
    const index = new Map<string, Manifest[]>();
    for (const name of files) {
      const file = join(this.#dir, name);
      for (const doc of await readManifests(file)) {
        const meta = doc.metadata;
        if (!isObject(meta) || typeof meta.name !== 'string') continue;
        index.set(meta.name, [...(index.get(meta.name) ?? []), { file, doc }]);
      }
    }
    return index;
  }
}

/** The Secrets in a file: each document that is a Secret, and the items of a `kind: List` (`kubectl get secrets -o yaml`). */
async function readManifests(file: string): Promise<Record<string, unknown>[]> {
  const info = await stat(file);
  if (info.size > MAX_FILE_BYTES) throw new SigwatchError('CONFIG', `${file}: over the ${MAX_FILE_BYTES}-byte limit`);
  const docs = parseAllDocuments(await readFile(file, 'utf8'), { prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  const out: Record<string, unknown>[] = [];
  docs.forEach((d, i) => {
    if (d.errors.length > 0) throw new SigwatchError('CONFIG', `${file}: document ${i + 1} is not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`);
    const value: unknown = d.toJS({ maxAliasCount: MAX_ALIASES });
    if (!isObject(value)) return;
    const items = value.kind === 'List' && Array.isArray(value.items) ? value.items : [value];
    for (const item of items) if (isObject(item) && item.kind === 'Secret') out.push(item);
  });
  return out;
}

/**
 * The Secret's value in the form Secrets Manager keeps it (see parsePullSecret):
 * `data` is base64 as Kubernetes stores it, `stringData` plain; `stringData` wins
 * for the same key, as the API server merges them.
 */
function secretValue(doc: Record<string, unknown>, label: string): string {
  const type = typeof doc.type === 'string' ? doc.type : 'Opaque';
  const field = type === DOCKER_CONFIG_JSON ? '.dockerconfigjson' : type === DOCKER_CFG ? '.dockercfg' : type === 'Opaque' ? 'sa.json' : undefined;
  if (!field) {
    throw new SigwatchError(
      'CONFIG',
      `${label}: a Secret of type ${type} holds no registry credentials; expected ${DOCKER_CONFIG_JSON}, ${DOCKER_CFG}, or an Opaque Secret with sa.json`,
    );
  }
  const stringData = isObject(doc.stringData) ? doc.stringData : {};
  const data = isObject(doc.data) ? doc.data : {};
  let value: string | undefined;
  if (typeof stringData[field] === 'string') value = stringData[field];
  else if (typeof data[field] === 'string') {
    const encoded = data[field].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw new SigwatchError('CONFIG', `${label}: data["${field}"] is not base64`);
    value = Buffer.from(encoded, 'base64').toString('utf8');
  }
  if (value === undefined) throw new SigwatchError('CONFIG', `${label}: a ${type} Secret without data["${field}"]`);
  return JSON.stringify({ [field]: value });
}
