/**
 * Reading RPC records from an accepted TCP connection without Node's stream
 * chunks.
 *
 * Node reads a stream socket 64 KiB at a time into a fresh buffer per read and
 * hands it through the stream machinery; a 1 MiB call then costs sixteen
 * allocations plus a copy to reassemble the record, and measured here that
 * holds a WRITE to about 0.6× the C libtirpc server. net.Socket's documented
 * `onread` option instead lets the kernel read into memory we supply: into a
 * reusable slab for small calls, and, while a large fragment is arriving, into
 * the very buffer its record will occupy (RecordDecoder.directBuffer()), in
 * reads as large as that buffer. net.Server offers `onread` only to sockets it
 * does not accept itself, so the server accepts with pauseOnConnect and moves
 * the connection's handle into a socket made with `onread`. Where that handle
 * is not reachable, the accepted socket's 'data' events feed the same decoder.
 */
import net from 'node:net';
import { type RecordDecoder, RecordMarkingError } from './record-marking.js';

export interface RecordSink {
  onRecords(records: Buffer[]): void;
  onError(e: RecordMarkingError): void;
  /** Anything else that went wrong while taking in a read; the connection is closed. */
  onFailure(e: unknown): void;
  /** Called after every read that was taken in without error. */
  afterRead?(): void;
  /** Bytes the kernel read straight into record buffers (for statistics). */
  onDirectBytes?(n: number): void;
}

/** Small calls are read into a slab; 128 KiB lets a 64 KiB WRITE usually arrive whole (measured: +10% over 64 KiB). */
const SLAB_SIZE = 128 * 1024;
/** A slab with less room than this is replaced (earlier records keep views of the old one). */
const SLAB_MIN_ROOM = 8 * 1024;

interface StreamHandle {
  useUserBuffer?: unknown;
}

/** Returns the socket to use for the connection from now on (the accepted one, or its replacement). */
export function adoptWithDirectReads(
  accepted: net.Socket,
  decoder: RecordDecoder,
  direct: boolean,
  sink: RecordSink,
): net.Socket {
  const internal = accepted as unknown as { _handle: StreamHandle | null };
  const handle = internal._handle;
  if (!direct || !handle || typeof handle.useUserBuffer !== 'function') return streamed(accepted, decoder, sink);

  let slab = Buffer.allocUnsafe(0);
  let slabUsed = 0;
  let lastWasDirect = false;
  const nextBuffer = (): Buffer => {
    const direct = decoder.directBuffer();
    if (direct) {
      lastWasDirect = true;
      return direct;
    }
    lastWasDirect = false;
    if (slab.length - slabUsed < SLAB_MIN_ROOM) {
      slab = Buffer.allocUnsafe(SLAB_SIZE);
      slabUsed = 0;
    }
    return slab.subarray(slabUsed);
  };
  let socket: net.Socket | undefined;
  const onRead = (n: number, buf: Buffer): boolean | undefined => {
    const ok = takeIn(sink, socket, () => {
      if (!lastWasDirect) {
        slabUsed += n;
        return decoder.push(buf.subarray(0, n));
      }
      sink.onDirectBytes?.(n);
      return decoder.commitDirect(n);
    });
    return ok ? undefined : false;
  };

  internal._handle = null; // the accepted socket must not touch the handle again
  socket = new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: { buffer: nextBuffer, callback: onRead },
  } as net.SocketConstructorOpts);
  // The accepted socket only keeps the server's connection count: release it with the connection.
  socket.once('close', () => accepted.destroy());
  socket.setNoDelay(true);
  socket.resume();
  return socket;
}

function streamed(socket: net.Socket, decoder: RecordDecoder, sink: RecordSink): net.Socket {
  socket.on('data', (chunk: Buffer) => takeIn(sink, socket, () => decoder.push(chunk)));
  socket.resume();
  return socket;
}

/**
 * Hand the records one read completes to the sink. Nothing thrown here may
 * escape into Node's read callback: a failure closes this connection only.
 */
function takeIn(sink: RecordSink, socket: net.Socket | undefined, read: () => Buffer[]): boolean {
  try {
    const records = read();
    if (records.length > 0) sink.onRecords(records);
    sink.afterRead?.();
    return true;
  } catch (e) {
    // A framing error is the sink's to close (after the replies it owes); anything else closes here.
    if (e instanceof RecordMarkingError) {
      sink.onError(e);
      return true;
    }
    sink.onFailure(e);
    socket?.destroy();
    return false;
  }
}
