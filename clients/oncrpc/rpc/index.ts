/**
 * ONC RPC v2 (RFC 5531) over TCP: record marking, messages, server, client.
 */
export { RpcClient, type RpcClientOptions } from './client.js';
export { Dispatcher } from './dispatcher.js';
export { RpcError, type RpcErrorCode } from './errors.js';
export * from './message.js';
export { type CallContext, type Peer, type Procedure, type ProgramVersion, procedure } from './program.js';
export { RecordDecoder, RecordMarkingError, recordHeader } from './record-marking.js';
export { RpcServer, type RpcServerOptions, type RpcServerStats } from './server.js';
