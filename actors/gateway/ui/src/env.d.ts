// CSS imported for its side effect: esbuild emits it as the bundle's stylesheet (build.mjs).
declare module '*.css';
