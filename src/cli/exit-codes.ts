/**
 * The exit codes of every command (CLI-CONTRACT.md): 0 admit / valid, 1 deny
 * (fail closed: any error on the way to a verdict), 2 usage or configuration
 * error. Their own module, so that commands and the dispatcher share them
 * without importing each other.
 */
export const EXIT_OK = 0;
export const EXIT_DENY = 1;
export const EXIT_USAGE = 2;
