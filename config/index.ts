export * from './schema.js';
export * from "./load.js";
export { ConfigError } from "../protocol/errors.js";
