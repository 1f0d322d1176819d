import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * The npm registry the user configured (mirrors, proxies' registries), so model tarballs come from wherever
 * their npm installs come from. Inside npm scripts npm exports it as npm_config_registry.
 */
export async function npmRegistry(): Promise<string> {
  const fromEnv = process.env.npm_config_registry;
  if (fromEnv) return withSlash(fromEnv);
  try {
    const { stdout } = await promisify(execFile)('npm', ['config', 'get', 'registry'], { timeout: 15000 });
    const url = stdout.trim();
    if (/^https?:\/\//.test(url)) return withSlash(url);
  } catch {
    // npm missing or broken: fall back to the public registry.
  }
  return 'https://registry.npmjs.org/';
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** The tarball address of one published version, read from the registry's version document. */
export async function npmTarballUrl(registry: string, pkg: string, version: string): Promise<string> {
  const res = await fetch(`${registry}${pkg.replace('/', '%2f')}/${version}`, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`registry answered ${res.status} for ${pkg}@${version}`);
  const doc = (await res.json()) as { dist?: { tarball?: string } };
  if (!doc.dist?.tarball) throw new Error(`registry document for ${pkg}@${version} names no tarball`);
  return doc.dist.tarball;
}
