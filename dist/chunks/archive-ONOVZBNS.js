import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b}from"./chunk-YRWMZK4Y.js";import"./chunk-B32WQMAV.js";export{b as extractArchive,a as isGzip};
