import { signToken, STREAM_SCOPE } from '../server/security.ts';
import { UsageError } from './usage-error.ts';

/**
 * `earshot token [--ttl SECONDS]`: prints a short-lived token for browsers, signed with EARSHOT_TOKEN (the same
 * scheme a host app's server can implement itself; see security.ts). It opens /ws/stream only, until it expires.
 */
export async function tokenCommand(args: string[]): Promise<number> {
  let ttl = 600;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = a.startsWith('--ttl=') ? a.slice(6) : a === '--ttl' ? args[++i] : undefined;
    if (value === undefined) throw new UsageError(`unknown argument ${a} (usage: earshot token [--ttl SECONDS])`);
    ttl = Number(value);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) throw new UsageError(`--ttl must be a whole number of seconds, 1-86400 (got ${value})`);
  }
  const secret = process.env.EARSHOT_TOKEN;
  if (!secret) throw new UsageError('EARSHOT_TOKEN is not set: tokens are signed with the server token');
  process.stdout.write(`${signToken(secret, { ttlSeconds: ttl, scope: STREAM_SCOPE })}\n`);
  return 0;
}
