/**
 * ws `generateMask` for our own WebSocket clients (the Raft peer links, the
 * gateway's query streams): a zero mask. Masking protects browsers'
 * intermediaries from script-chosen bytes; between our own processes it only
 * costs an XOR pass over every frame, and ws skips that pass for a zero mask.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
