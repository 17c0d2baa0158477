import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-OCTHKZW6.js";import"./chunk-LOSWYYCV.js";import"./chunk-X4T4DFML.js";export{c as FREE_SPACE_MARGIN,b as MAX_GZIP_RATIO,d as extractArchive,e as extractStream,a as isGzip};
