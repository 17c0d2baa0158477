import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d,e,f,g,h}from"./chunk-FV3H7MFZ.js";import"./chunk-LOSWYYCV.js";import"./chunk-X4T4DFML.js";export{d as ENTRY_BYTES,e as FREE_SPACE_MARGIN,c as MAX_ARCHIVE_ENTRIES,b as MAX_GZIP_RATIO,g as extractArchive,h as extractStream,a as isGzip,f as resolveInArchive};
