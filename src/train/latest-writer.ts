/**
 * Saves the latest of a stream of snapshots, one write at a time: a newer snapshot replaces one still
 * waiting to be written, so a slow store (a disk, Redis) costs snapshots, never memory or order. A write
 * that fails leaves the previous snapshot; the run goes on and only resumes from further back.
 */
export class LatestWriter {
  private waiting: Uint8Array | undefined;
  private writing: Promise<void> | undefined;
  /** A snapshot has been written. */
  written = false;

  constructor(
    private readonly write: (bytes: Uint8Array) => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  offer(bytes: Uint8Array): void {
    this.waiting = bytes;
    this.writing ??= this.drain();
  }

  /** Resolves once every offered snapshot is written (or failed to be). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.waiting) {
      const bytes = this.waiting;
      this.waiting = undefined;
      try {
        await this.write(bytes);
        this.written = true;
      } catch (error) {
        this.onError(error);
      }
    }
    this.writing = undefined;
  }
}
