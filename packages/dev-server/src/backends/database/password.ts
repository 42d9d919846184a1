import { randomInt } from 'node:crypto';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const ALL = `${LOWER}${UPPER}${DIGITS}-`;

/**
 * Vault's default database password (no `password_policy`): 20 characters from `[A-Za-z0-9-]` with at least one
 * lowercase letter, one uppercase letter, one digit and one `-`. Drawn uniformly and re-drawn until every rule
 * holds, as Vault's random string generator does.
 */
export function generateDatabasePassword(length = 20): string {
  for (;;) {
    let out = '';
    for (let i = 0; i < length; i++) out += ALL[randomInt(ALL.length)];
    if (/[a-z]/.test(out) && /[A-Z]/.test(out) && /[0-9]/.test(out) && out.includes('-')) return out;
  }
}
