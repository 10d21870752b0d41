/**
 * The portmapper (program 100000) as client, embedded server, and the logic
 * that makes a server findable through it.
 */
export { type Advertisement, type AdvertiseOptions, advertise } from './advertise.js';
export { EmbeddedPortmapper } from './embedded-portmapper.js';
export { PortmapClient } from './portmap-client.js';
export * from './protocol.js';
export { MAX_REGISTRATIONS, PortmapRegistry } from './registry.js';
