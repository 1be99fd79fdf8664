// Types of scripts/ortTarget.mjs (plain JS: esbuild.mjs and package-targets.mjs run under plain node).
export declare const ORT_TARGETS: string[];
export declare const ORT_BIN: string;
export declare const VSIX_ORT: string;
export declare function ortBinSubdir(target: string): string;
export declare function shippedOrtTargets(ortPackageDir: string): string[];
export declare function checkVsixOrt(target: string, entries: string[], ownFiles?: string[]): string[];
export declare function zipEntries(buf: Buffer): string[];
export declare const VSIX_MODULES: string;
export declare const SHARP_DEPS: string[];
export declare function sharpPackages(target: string): string[];
