import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireTool } from '../support/require-tool.ts';

/** A self-signed certificate for 127.0.0.1 / localhost, made at test time with openssl. */
export function selfSignedCertificate(): { cert: Buffer; key: Buffer; certPath: string; keyPath: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-tls-'));
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  execFileSync(requireTool('openssl'), [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  return { cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath), certPath, keyPath };
}
