import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c}from"./chunk-OBZ7TKYW.js";import"./chunk-B32WQMAV.js";export{c as extractArchive,a as isGzip,b as resolveInArchive};
