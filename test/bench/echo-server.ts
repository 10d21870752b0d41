/**
 * The optarc side of the RPC benchmarks: an RpcServer serving the echo test
 * program on 127.0.0.1. Prints `PORT <n>` when listening; stops on SIGTERM.
 */
import { RpcServer } from '../../clients/oncrpc/index.js';
import { echoProgram } from '../interop/echo-program.js';

const server = new RpcServer({ maxRecordSize: 16 * 1024 * 1024, maxConnections: 1024, idleTimeoutMs: 0 });
server.addProgram(echoProgram());
const port = await server.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
process.stdout.write(`PORT ${port}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
