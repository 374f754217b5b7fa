import type { Verdict } from '../verify/verdict.ts';

/** The verdict as a person reads it: decision first, then why, policy by policy. */
export function formatVerdictText(v: Verdict): string {
  const lines = [`${v.verdict.toUpperCase()} ${v.image}${v.digest ? ` (${v.digest})` : ''}`];
  for (const p of v.policies) {
    lines.push(`  policy ${p.name} [${p.mode}]: ${p.verdict}${p.reason ? ` (${p.reason})` : ''}`);
    for (const note of p.notes ?? []) lines.push(`    note: ${note}`);
    for (const a of p.authorities) {
      lines.push(`    authority ${a.name}: ${a.verdict}: ${a.reason}`);
      for (const s of a.signatures) {
        const who = [s.identity.issuer, s.identity.subject, s.identity.key && `key ${s.identity.key}`].filter(Boolean).join(' ');
        lines.push(`      signature ${s.digest}${who ? ` by ${who}` : ''}`);
      }
    }
  }
  if (v.policies.length === 0) for (const r of v.reasons) lines.push(`  ${r}`);
  return lines.join('\n');
}
