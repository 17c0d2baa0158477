import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-4BHZLE5F.js";import"./chunk-LOSWYYCV.js";import"./chunk-CDNS7XPM.js";export{c as FREE_SPACE_MARGIN,b as MAX_GZIP_RATIO,e as extractArchive,a as isGzip,d as resolveInArchive};
