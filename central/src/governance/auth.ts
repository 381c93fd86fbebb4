/**
 * Who is asking, and may they: bearer tokens (RFC 6750), each configured by the SHA-256 of the
 * token (the configuration never holds a usable secret), with an operator name, a role and the
 * sites it may act on. Roles and the least role of each command: src/record/command.ts.
 *
 * Tokens are compared by their SHA-256 digests with a constant-time comparison, so the time taken
 * says nothing about how much of a token was right.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { COMMANDS, isCommandName, roleAtLeast, type CommandError, type Role } from '../../../src/record/command.ts';
import type { GovernanceToken } from '../config/load.ts';

export interface Identity {
  name: string;
  role: Role;
  /** Site ids, or ['*']. */
  sites: string[];
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random token (32 bytes, base64url) and the digest to configure for it. */
export function newToken(): { token: string; sha256: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, sha256: sha256Hex(token) };
}

export class Authenticator {
  private readonly tokens: Array<{ digest: Buffer; identity: Identity }>;

  constructor(tokens: GovernanceToken[]) {
    this.tokens = tokens.map((t) => ({ digest: Buffer.from(t.sha256, 'hex'), identity: { name: t.name, role: t.role, sites: t.sites } }));
  }

  /** The identity of an `Authorization: Bearer <token>` header, or null. */
  authenticate(header: string | undefined): Identity | null {
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
    if (match === null) return null;
    const digest = createHash('sha256').update(match[1]!).digest();
    let found: Identity | null = null;
    // Every configured token is compared, found or not: the time taken does not depend on which matched.
    for (const entry of this.tokens) if (timingSafeEqual(entry.digest, digest)) found = entry.identity;
    return found;
  }
}

export function maySee(identity: Identity, site: string): boolean {
  return identity.sites.includes('*') || identity.sites.includes(site);
}

/** Whether `identity` may send `command` to `site`: null when yes, else the refusal. */
export function authorise(identity: Identity, command: string, site: string): CommandError | null {
  if (!maySee(identity, site)) return { code: 'SKY_ERR_FORBIDDEN_SITE', message: `${identity.name} (${identity.role}) may not command site ${site}` };
  if (!isCommandName(command)) return null; // unknown commands are refused by validation, with the list of known ones
  const least = COMMANDS[command].role;
  if (!roleAtLeast(identity.role, least)) return { code: 'SKY_ERR_FORBIDDEN_ROLE', message: `${command} needs the role ${least} or above; ${identity.name} is ${identity.role}` };
  return null;
}
