import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d}from"./chunk-AAVVYOEG.js";import"./chunk-3NZUCUSL.js";import"./chunk-PWQ24ZU3.js";import"./chunk-FUPEFSKH.js";import"./chunk-B32WQMAV.js";export{a as DIAGNOSE_TIMEOUT_MS,c as LARGE_PROBE_BYTES,b as MEDIUM_PROBE_BYTES,d as diagnose};
