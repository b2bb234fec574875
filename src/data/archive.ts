/**
 * Zip and tar (plain or gzip) archives of a dataset, unpacked into a folder of the caller's: regular files
 * and folders only, every entry's path checked to stay inside (no absolute paths, no `..`, no links), the
 * total size and the number of entries bounded while unpacking (a zip bomb stops at the limit, not after).
 * Zip by yauzl, tar by tar-stream; nothing in an archive is ever run.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import yauzl from 'yauzl';

/** An archive that cannot be unpacked; the message names the archive, the entry if there is one, and why. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';

  constructor(
    readonly path: string,
    readonly entry: string | undefined,
    readonly problem: string,
  ) {
    super(`${path}${entry === undefined ? '' : `, entry ${JSON.stringify(entry)}`}: ${problem}`);
  }
}

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

export interface ExtractLimits {
  /** Bytes of all files together, once unpacked. Default 2 GiB. */
  maxBytes?: number;
  /** Files and folders. Default 200,000. */
  maxEntries?: number;
}

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 200_000;

/** What the first bytes (gunzipped if gzip; at least 262 of them) say the archive is, if it is one. */
export function archiveKindOf(head: Uint8Array, gzipped: boolean): ArchiveKind | undefined {
  if (!gzipped && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05) && (head[3] === 0x04 || head[3] === 0x06)) return 'zip';
  // POSIX ustar and GNU tar both write "ustar" at offset 257.
  if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar') return gzipped ? 'tar.gz' : 'tar';
  return undefined;
}

/**
 * An entry's path made safe to join to the folder, or why it is not: forward slashes, relative, no `..`,
 * no drive letters, nothing but printable names.
 */
export function entryPath(name: string): string | { problem: string } {
  if (name.includes('\\')) return { problem: 'a backslash in its path' };
  if (name.includes('\0')) return { problem: 'a NUL byte in its path' };
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return { problem: 'an absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return { problem: 'a path that climbs out of the archive (..)' };
  if (parts.length === 0) return { problem: 'an empty path' };
  return posix.join(...parts);
}

/** Counts what is written against the limits. */
class Budget {
  bytes = 0;
  entries = 0;

  constructor(
    private readonly path: string,
    private readonly limits: Required<ExtractLimits>,
  ) {}

  entry(name: string): void {
    if (++this.entries > this.limits.maxEntries) throw new ArchiveError(this.path, name, `more than ${this.limits.maxEntries} entries`);
  }

  /** A stream that passes bytes on until the total passes the limit. */
  meter(name: string): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.bytes += chunk.length;
        if (this.bytes > this.limits.maxBytes) done(new ArchiveError(this.path, name, `unpacks to more than ${this.limits.maxBytes} bytes`));
        else done(null, chunk);
      },
    });
  }
}

/** Writes one entry's bytes to its place inside `into`. */
async function writeEntry(into: string, relative: string, content: Readable, budget: Budget, name: string): Promise<void> {
  const target = join(into, relative);
  await mkdir(dirname(target), { recursive: true });
  await pipeline(content, budget.meter(name), createWriteStream(target, { flags: 'wx' }));
}

function checkedPath(path: string, name: string): string {
  const relative = entryPath(name);
  if (typeof relative !== 'string') throw new ArchiveError(path, name, relative.problem);
  return relative;
}

async function extractZip(path: string, into: string, budget: Budget): Promise<void> {
  // Names come as bytes and are checked here (entryPath), so the refusal names the entry.
  const zip = await new Promise<yauzl.ZipFile>((done, fail) =>
    yauzl.open(path, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false, autoClose: true }, (error, file) =>
      error ? fail(new ArchiveError(path, undefined, `not a zip archive that can be read (${error.message})`)) : done(file),
    ),
  );
  try {
    await new Promise<void>((done, fail) => {
      const next = () => zip.readEntry();
      zip.on('error', (error: Error) => fail(error instanceof ArchiveError ? error : new ArchiveError(path, undefined, error.message)));
      zip.on('end', () => done());
      zip.on('entry', (entry: yauzl.Entry) => {
        void (async () => {
          const raw = entry.fileName as unknown as Buffer;
          // Bit 11: the name is UTF-8; otherwise read it byte for byte.
          const name = raw.toString(entry.generalPurposeBitFlag & 0x800 ? 'utf8' : 'latin1');
          budget.entry(name);
          const relative = checkedPath(path, name);
          // Unix modes sit in the top half of the external attributes: only files and folders come out.
          const type = (entry.externalFileAttributes >>> 16) & 0o170000;
          if (type !== 0 && type !== 0o100000 && type !== 0o040000) throw new ArchiveError(path, name, 'a link or special file; only files and folders are unpacked');
          if (name.endsWith('/') || type === 0o040000) {
            await mkdir(join(into, relative), { recursive: true });
            return;
          }
          if (entry.isEncrypted()) throw new ArchiveError(path, name, 'encrypted');
          const content = await new Promise<Readable>((ok, bad) => zip.openReadStream(entry, (error, stream) => (error ? bad(new ArchiveError(path, name, error.message)) : ok(stream))));
          await writeEntry(into, relative, content, budget, name);
        })().then(next, (error: unknown) => {
          zip.close();
          fail(error instanceof ArchiveError ? error : new ArchiveError(path, undefined, error instanceof Error ? error.message : String(error)));
        });
      });
      next();
    });
  } finally {
    if (zip.isOpen) zip.close();
  }
}

async function extractTar(path: string, into: string, budget: Budget, gzipped: boolean): Promise<void> {
  const extract = tarStream.extract();
  const sink = extract as unknown as Writable;
  const reading = (gzipped ? pipeline(createReadStream(path), createGunzip(), sink) : pipeline(createReadStream(path), sink)).catch((error: unknown) => {
    throw error instanceof ArchiveError ? error : new ArchiveError(path, undefined, `not a tar archive that can be read (${error instanceof Error ? error.message : String(error)})`);
  });
  const unpacking = (async () => {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      budget.entry(name);
      const relative = checkedPath(path, name);
      if (type === 'directory') {
        await mkdir(join(into, relative), { recursive: true });
        entry.resume();
      } else if (type === 'file' || type === 'contiguous-file') {
        await writeEntry(into, relative, entry as unknown as Readable, budget, name);
      } else {
        throw new ArchiveError(path, name, `a ${type ?? 'special'} entry; only files and folders are unpacked`);
      }
    }
  })();
  try {
    await Promise.all([reading, unpacking]);
  } catch (error) {
    extract.destroy();
    throw error;
  }
}

/** The first bytes of a file, and whether it is gzip. */
async function head(path: string): Promise<{ bytes: Uint8Array; gzipped: boolean }> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(512), 0, 512, 0);
    return { bytes: buffer.subarray(0, bytesRead), gzipped: buffer[0] === 0x1f && buffer[1] === 0x8b };
  } finally {
    await file.close();
  }
}

/** What kind of archive the file is, by its content; undefined for anything else. */
export async function archiveKind(path: string): Promise<ArchiveKind | undefined> {
  const { bytes, gzipped } = await head(path);
  if (!gzipped) return archiveKindOf(bytes, false);
  // Enough of the stream to see the first tar header.
  const gunzip = createGunzip();
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4096 }).pipe(gunzip)) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= 512) break;
    }
  } catch {
    return undefined;
  } finally {
    gunzip.destroy();
  }
  return archiveKindOf(Buffer.concat(chunks), true);
}

/**
 * Unpacks a zip or tar (plain or gzip) into `into` (made if missing; files already there are never
 * overwritten).
 *
 * @throws ArchiveError naming the archive and entry: not an archive, an unsafe path, a link, the limits.
 */
export async function extractArchive(path: string, into: string, limits: ExtractLimits = {}): Promise<ArchiveKind> {
  const kind = await archiveKind(path);
  if (kind === undefined) throw new ArchiveError(path, undefined, 'not a zip or tar archive');
  await mkdir(into, { recursive: true });
  const budget = new Budget(path, { maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES, maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES });
  if (kind === 'zip') await extractZip(path, into, budget);
  else await extractTar(path, into, budget, kind === 'tar.gz');
  return kind;
}
