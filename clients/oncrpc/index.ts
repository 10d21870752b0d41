/**
 * clients/oncrpc: ONC RPC v2 and XDR for optarc's legacy wire — the codec
 * (xdr/), record marking, messages, server and client (rpc/), and the
 * portmapper (portmap/).
 */
export * from './logger.js';
export * from './portmap/index.js';
export * from './rpc/index.js';
export * from './xdr/index.js';
