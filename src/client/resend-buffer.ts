/**
 * The audio a client sent since its last final, kept so that after a reconnect (to another instance, say, when one
 * behind the balancer went away) it can be sent again: every utterance spoken still gets exactly one final.
 * DOM- and Node-free: the Node client and the web client both use it.
 *
 * Positions are bytes of the client's own PCM16 stream since it began. A connection's stream (what the server counts
 * `start`/`end` from) begins where the last replay began (`origin`), so a final with `end` covers the client's
 * stream up to origin + end·rate·2. That much is acknowledged and dropped. A final that ends at or before the
 * acknowledged position answers audio already answered, and is reported as a duplicate: the rule clients use to
 * show each utterance once.
 */
export interface StreamSpan {
  /** Seconds into the client's stream. */
  start: number;
  end: number;
}

export class ResendBuffer {
  private chunks: Uint8Array[] = [];
  /** Stream position of chunks[0]. */
  private head = 0;
  /** Stream position after the last byte pushed. */
  private tail = 0;
  private acked = 0;
  private origin = 0;

  /**
   * @param sampleRate rate of the PCM16 stream
   * @param maxSeconds audio kept at most; older audio is dropped (a server that answers nothing for this long is
   *   not one to resend to)
   */
  constructor(
    readonly sampleRate: number,
    private readonly maxSeconds = 60,
  ) {}

  /** Seconds of audio kept for a resend. */
  get pendingSeconds(): number {
    return (this.tail - this.head) / 2 / this.sampleRate;
  }

  /** One frame sent (or to be sent once connected). The frame must not be modified afterwards. */
  push(frame: Uint8Array): void {
    if (frame.length === 0) return;
    this.chunks.push(frame);
    this.tail += frame.length;
    const max = Math.round(this.maxSeconds * this.sampleRate) * 2;
    while (this.tail - this.head > max && this.chunks.length > 1) this.head += this.chunks.shift()!.length;
  }

  /**
   * A final (or a discard) of the current connection, with the server's `start`/`end` seconds: its span on the
   * client's stream, or undefined when that audio had already been answered (a duplicate: ignore it).
   */
  acknowledge(start: number, end: number): StreamSpan | undefined {
    const endByte = this.origin + Math.round(end * this.sampleRate) * 2;
    if (endByte <= this.acked) return undefined;
    this.acked = Math.min(endByte, this.tail);
    while (this.chunks.length > 0 && this.head + this.chunks[0]!.length <= this.acked) this.head += this.chunks.shift()!.length;
    if (this.chunks.length > 0 && this.head < this.acked) {
      this.chunks[0] = this.chunks[0]!.subarray(this.acked - this.head);
      this.head = this.acked;
    }
    const originSeconds = this.origin / 2 / this.sampleRate;
    return { start: originSeconds + start, end: originSeconds + end };
  }

  /** A new connection begins its stream at the oldest unanswered audio: the frames to send first, in order. */
  replay(): Uint8Array[] {
    this.origin = this.head;
    this.acked = Math.max(this.acked, this.head);
    return [...this.chunks];
  }
}
