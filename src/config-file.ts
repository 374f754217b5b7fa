import { readFile } from 'node:fs/promises';
import { SigwatchError } from './errors.ts';

/** A JSON file an operator names (registry config, trusted root): any problem is a CONFIG error naming it. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SigwatchError('CONFIG', `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SigwatchError('CONFIG', `${what} ${path} is not valid JSON`);
  }
}
