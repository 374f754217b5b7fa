// Which Node sigwatch needs, said plainly before anything else is loaded: an
// older Node would otherwise fail on the TypeScript sources or a dependency
// with a stack trace that names neither the cause nor the fix.
// Plain JavaScript that any Node since 12 parses.

/** `>=22.22.2` → [22, 22, 2]; only the `>=` form the package uses. */
export function minimumOf(engines) {
  const m = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(String(engines).trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** The message for a Node older than `engines` wants, or undefined when it is new enough. */
export function nodeProblem(version, engines) {
  const min = minimumOf(engines);
  if (!min) return undefined;
  const have = String(version).replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((have[i] || 0) > min[i]) return undefined;
    if ((have[i] || 0) < min[i]) {
      return (
        `sigwatch needs Node.js ${min.join('.')} or newer; this is Node.js ${String(version).replace(/^v/, '')}.\n` +
        'Run it as `npx sigwatch …` in the project after `npm ci` (which installs Node 22 for npm and npx), or install Node 22.'
      );
    }
  }
  return undefined;
}
