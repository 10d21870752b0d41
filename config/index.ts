/**
 * config: optarc's settings — the schema (schema.ts), how they are loaded
 * (load.ts) and the command-line conventions of the three programs.
 */
export { ConfigError, envName, type LoadOptions, loadConfig, settingPaths } from './load.js';
export { agentPaths, type Config, configSchema } from './schema.js';
