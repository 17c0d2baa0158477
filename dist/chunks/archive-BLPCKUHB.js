import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-BRL23PBL.js";import"./chunk-LOSWYYCV.js";import"./chunk-6BT6ABJV.js";import"./chunk-CDNS7XPM.js";export{c as FREE_SPACE_MARGIN,b as MAX_GZIP_RATIO,d as extractArchive,e as extractStream,a as isGzip};
