/**
 * Permissions: allow-rules per namespace and room glob (like Centrifugo's channel claims and
 * NATS's publish/subscribe allow lists). `authorize` is the one function that decides; it
 * returns the refusal (naming the action and the rules that did not grant it) or undefined.
 */
import type { JWTPayload } from 'jose';
import type { Action, PermissionRule } from '../config.js';

/** Who a connection is, as its credential proved (on `socket.handshake.credentials`). */
export interface Credentials {
  /** How the connection proved it: a JWT, an API key, or nothing (anonymous). */
  kind: 'jwt' | 'key' | 'anonymous';
  /** The identity (`sub` of the token, `client` of the key, or an anonymous `?client=` where allowed). */
  client?: string;
  /** The verified claims of a JWT. */
  claims?: JWTPayload;
  /** What the credential may do. */
  permissions: readonly PermissionRule[];
  /** When the credential expires (ms since the epoch), if it does. */
  expiresAt?: number;
}

/** A refused action: the wire code and a sentence, with details naming the action and the rules consulted. */
export interface Refusal {
  code: 'forbidden' | 'rate_limited';
  message: string;
  details?: Record<string, unknown>;
}

const compiled = new Map<string, RegExp>();

/** True when `s` matches the glob `pattern` (`*` matches any run of characters, everything else is literal). */
export function globMatch(pattern: string, s: string): boolean {
  if (pattern === '*') return true;
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(
      `^${pattern
        .split('*')
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
      's',
    );
    if (compiled.size > 1000) compiled.clear(); // patterns come from config and tokens: few, but bounded anyway
    compiled.set(pattern, re);
  }
  return re.test(s);
}

/** The dead-letter room prefix (D4): `$dead:R` is governed by the `dead` action on room R. */
const DEAD = '$dead:';

/** The rule of `rules` granting `action` on (ns, room), if any. */
export function grantingRule(rules: readonly PermissionRule[], action: Action, ns: string, room?: string): PermissionRule | undefined {
  return rules.find((r) => (r.actions.includes(action) || r.actions.includes('*')) && globMatch(r.ns, ns) && (room === undefined || globMatch(r.room, room)));
}

/**
 * May these credentials do `action` in namespace `ns` (on `room`)? Undefined means yes;
 * otherwise the refusal says which permission was missing. No credentials (no `auth`
 * configured) allow everything. A personal room `@X` is X's own: X may join it always.
 * @example
 * authorize(creds, 'emit', '/', 'chat.lobby') // undefined, or { code: 'forbidden', message: 'no rule grants "emit" …' }
 */
export function authorize(credentials: Credentials | undefined, action: Action, ns: string, room?: string): Refusal | undefined {
  if (!credentials) return undefined;
  if (action === 'connect' && ns === '/') return undefined; // admitted at the upgrade = connected to "/"
  let target = room;
  if (room?.startsWith(DEAD)) target = room.slice(DEAD.length);
  if (target?.startsWith('@') && action !== 'emit') {
    // A personal room @X and its dead letters $dead:@X are X's own: always X's, never anyone else's.
    if (credentials.client && target === `@${credentials.client}`) return undefined;
    return {
      code: 'forbidden',
      message: `"${room}" belongs to client "${target.slice(1)}"; only a connection holding that identity may ${action === 'dead' ? 'read its dead letters' : 'join it'}.`,
      details: { action, ns, room, permission: `personal ${target}` },
    };
  }
  if (grantingRule(credentials.permissions, action, ns, target)) return undefined;
  const who = credentials.client ? `client "${credentials.client}"` : 'an anonymous connection';
  const where = room === undefined ? `namespace "${ns}"` : `room "${target}" of namespace "${ns}"`;
  const shown =
    credentials.permissions
      .slice(0, 5)
      .map((r) => `{ns "${r.ns}", room "${r.room}": ${r.actions.join(' ')}}`)
      .join(', ') || 'none';
  return {
    code: 'forbidden',
    message: `No permission of ${who} grants "${action}" on ${where} (its ${credentials.kind} permissions: ${shown}${credentials.permissions.length > 5 ? ', …' : ''}). Ask for a credential that grants it.`,
    details: { action, ns, ...(room !== undefined ? { room } : {}), permission: `${action} ${ns} ${target ?? ''}`.trim() },
  };
}
