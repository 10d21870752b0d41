/**
 * What Node's own sockets cost, with no RPC layer, as a baseline beside the
 * optarc server in the same benchmark run:
 *
 *   rpc-null  answers every NULL call from a closed-loop client with a fixed
 *             24-byte accepted reply carrying the call's xid (one call per read)
 *   sink      the raw-TCP exchange of tcp_send: a 4-byte length and that many
 *             bytes in, a 4-byte count out
 *
 * Prints `PORT <n>` when listening; stops on SIGTERM.
 */
import net from 'node:net';

const mode = process.argv[2];

function nullReplier(socket: net.Socket): void {
  socket.on('data', (d: Buffer) => {
    const reply = Buffer.alloc(28);
    reply.writeUInt32BE(0x80000018, 0);
    d.copy(reply, 4, 4, 8); // xid
    reply.writeUInt32BE(1, 8); // REPLY; MSG_ACCEPTED, null verifier and SUCCESS are zeros
    socket.write(reply);
  });
}

function sink(socket: net.Socket): void {
  const header = Buffer.alloc(4);
  let have = 0;
  let need = -1;
  let got = 0;
  socket.on('data', (d: Buffer) => {
    let p = 0;
    while (p < d.length) {
      if (need < 0) {
        const n = Math.min(4 - have, d.length - p);
        d.copy(header, have, p, p + n);
        have += n;
        p += n;
        if (have === 4) {
          need = header.readUInt32BE(0);
          have = 0;
          got = 0;
        }
      }
      if (need >= 0) {
        const n = Math.min(need - got, d.length - p);
        got += n;
        p += n;
        if (got === need) {
          const answer = Buffer.alloc(4);
          answer.writeUInt32BE(need >>> 0, 0);
          socket.write(answer);
          need = -1;
        }
      }
    }
  });
}

const server = net.createServer({ noDelay: true }, mode === 'sink' ? sink : nullReplier);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${(server.address() as net.AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
