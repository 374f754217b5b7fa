import type { Io } from './main.ts';

// Placeholder until the policy engine lands: exit 2, never a fake result.
export async function validateCommand(_args: string[], io: Io): Promise<number> {
  io.stderr('sigwatch policy validate: not implemented yet');
  return 2;
}

export async function matchCommand(_args: string[], io: Io): Promise<number> {
  io.stderr('sigwatch policy match: not implemented yet');
  return 2;
}
