import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { configError, parseConfig, type ConfigParseOptions } from '../accounts/config.ts';
import { AccountDirectory } from '../accounts/groups.ts';
import type { SigwatchConfig } from '../accounts/types.ts';
import { SigwatchError } from '../errors.ts';

/**
 * The sigwatch configuration (`config/sigwatch.yaml`): groups, associations,
 * topics. A warm function asks for it on every batch; S3 answers a conditional
 * GET with 304 while the object is unchanged, so an edit takes effect at the
 * next batch without a parse per batch.
 */

export interface LoadedConfig {
  config: SigwatchConfig;
  directory: AccountDirectory;
  /** The object's version (ETag or content) the configuration was read from. */
  version: string;
}

export interface ConfigSource {
  load(): Promise<LoadedConfig>;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

export class S3ConfigSource implements ConfigSource {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #key: string;
  #cached: (LoadedConfig & { etag: string }) | undefined;

  constructor(client: S3Client, bucket: string, key: string) {
    this.#client = client;
    this.#bucket = bucket;
    this.#key = key;
  }

  async load(): Promise<LoadedConfig> {
    const where = `s3://${this.#bucket}/${this.#key}`;
    let res;
    try {
      res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key, ...(this.#cached ? { IfNoneMatch: this.#cached.etag } : {}) }),
      );
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (this.#cached && e.$metadata?.httpStatusCode === 304) return this.#cached;
      const code = e.name && /^[A-Za-z][\w.]*$/.test(e.name) ? e.name : 'Error';
      throw new SigwatchError('CONFIG', `${where}: cannot read the sigwatch configuration (${code})`);
    }
    const text = await res.Body?.transformToString('utf8');
    if (text === undefined) throw new SigwatchError('CONFIG', `${where}: empty response`);
    if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new SigwatchError('CONFIG', `${where}: larger than ${MAX_CONFIG_BYTES} bytes`);
    const loaded = readConfig(text, where, {});
    const etag = res.ETag ?? '';
    this.#cached = etag ? { ...loaded, version: etag.replace(/"/g, ''), etag } : undefined;
    return this.#cached ?? loaded;
  }
}

/** A configuration file on disk (local runs, the demo): read on every load. */
export class FileConfigSource implements ConfigSource {
  readonly #path: string;
  readonly #opts: ConfigParseOptions;

  constructor(path: string, opts: ConfigParseOptions = {}) {
    this.#path = path;
    this.#opts = opts;
  }

  async load(): Promise<LoadedConfig> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      throw new SigwatchError('CONFIG', `cannot read the sigwatch configuration ${this.#path}: ${(err as Error).message}`);
    }
    return readConfig(text, this.#path, this.#opts);
  }
}

/** A configuration's text, parsed and indexed as a source hands it out; throws CONFIG naming `where` and every problem. */
export function readConfig(text: string, where: string, opts: ConfigParseOptions): LoadedConfig {
  const parsed = parseConfig(text, opts);
  if (!parsed.ok) throw configError(where, parsed.problems);
  return { config: parsed.config, directory: new AccountDirectory(parsed.config), version: createHash('sha256').update(text).digest('hex').slice(0, 32) };
}
