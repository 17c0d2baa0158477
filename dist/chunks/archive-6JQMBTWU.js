import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b}from"./chunk-C44XA6FR.js";import"./chunk-2JTGJ47R.js";export{b as extractArchive,a as isGzip};
