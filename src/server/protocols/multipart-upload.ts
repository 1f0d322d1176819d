import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { ApiError } from '../http-errors.ts';

/** A multipart/form-data upload as received. */
export interface Upload {
  /** The file part was written to the temporary file. */
  file: boolean;
  filename?: string;
  fields: Record<string, string>;
  /** `timestamp_granularities[]` may be given more than once. */
  granularities: string[];
  /** So may `keywords` (keyterms). */
  keywords: string[];
}

/** What can be refused before the body is read: the content type and a declared length over the limit. */
export function checkRequest(req: IncomingMessage, maxBytes: number): void {
  if (!/^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '')) {
    throw new ApiError(400, 'BAD_REQUEST', 'expected a multipart/form-data body with the audio in a "file" field');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) {
    throw new ApiError(413, 'FILE_TOO_LARGE', `upload of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
}

/** Parses the multipart body; the file part is streamed to `file` (up to `maxBytes`), the fields are kept. */
export function receiveUpload(req: IncomingMessage, maxBytes: number, file: string): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 32, fieldSize: 64 * 1024, parts: 40 } });
    } catch (e) {
      reject(new ApiError(400, 'BAD_REQUEST', `bad multipart body: ${(e as Error).message}`));
      return;
    }
    const upload: Upload = { file: false, fields: {}, granularities: [], keywords: [] };
    let failure: ApiError | undefined;
    let written: Promise<void> = Promise.resolve();
    bb.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      stream.on('limit', () => {
        failure ??= new ApiError(413, 'FILE_TOO_LARGE', `file is over the upload limit of ${maxBytes} bytes`);
      });
      written = pipeline(stream, createWriteStream(file)).then(() => {
        upload.file = !failure;
        upload.filename = info.filename;
      });
    });
    bb.on('field', (name, value) => {
      if (name === 'timestamp_granularities[]' || name === 'timestamp_granularities') upload.granularities.push(value);
      else if (name === 'keywords[]' || name === 'keywords') upload.keywords.push(value);
      else upload.fields[name] = value;
    });
    bb.on('error', (e: Error) => reject(failure ?? new ApiError(400, 'BAD_REQUEST', `bad multipart body: ${e.message}`)));
    bb.on('close', () => {
      written.then(
        () => (failure ? reject(failure) : resolve(upload)),
        (e: Error) => reject(failure ?? e),
      );
    });
    req.on('error', (e) => reject(new ApiError(400, 'BAD_REQUEST', `request failed: ${e.message}`)));
    req.pipe(bb);
  });
}
