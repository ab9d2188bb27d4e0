// Declarations of kms-origin.mjs: the headers and the configuration of a
// KMS origin, for a deployer's server code.

/** The bundle's manifest (kms/manifest.json). */
export interface Manifest {
  v: number;
  build: string;
  csp_script_hashes: string[];
  files: { path: string; size: number; sha256: string; sri: string }[];
  [member: string]: unknown;
}

export declare function manifest(): Manifest;

/**
 * The headers of every response of the KMS origin, as [name, value] pairs
 * in the documented order. Throws (the frame's `config_invalid` error,
 * naming the entry) for an origin the frame would refuse.
 */
export declare function kmsHeaders(options: { allowedHosts: string[]; scriptHashes?: string[] }): [string, string][];

/** The content type of each kind of file of the bundle, by extension. */
export declare const CONTENT_TYPES: Readonly<Record<'.html' | '.js' | '.wasm' | '.json' | '.css', string>>;

/** The text of /kms-config.json for these app origins, checked as the frame checks it. */
export declare function kmsConfig(options: {
  allowedHosts: string[];
  hostGroups?: Record<string, string[]>;
  allowPasskeyGate?: boolean;
}): string;
