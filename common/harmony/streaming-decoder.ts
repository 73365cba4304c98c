// Token-by-token text decoding for streamed output. A token can end in the middle of a multi-byte
// UTF-8 character (emoji are often 2-3 tokens); the incomplete tail is held back until the bytes
// that finish it arrive, so no chunk ever carries half a character or a spurious U+FFFD.

export interface TokenByteSource {
  tokenBytes(id: number): Uint8Array;
}

export class StreamingDecoder {
  // ignoreBOM: a leading U+FEFF is content, not a byte-order mark to strip.
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(private readonly source: TokenByteSource) {}

  /** The text that token `id` completes; '' while a character is still unfinished. */
  push(id: number): string {
    return this.decoder.decode(this.source.tokenBytes(id), { stream: true });
  }

  /** Ends the stream: a dangling partial character becomes U+FFFD. The decoder can be reused. */
  flush(): string {
    return this.decoder.decode();
  }
}
