import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c}from"./chunk-RZONYBAD.js";import"./chunk-CDNS7XPM.js";export{c as extractArchive,a as isGzip,b as resolveInArchive};
