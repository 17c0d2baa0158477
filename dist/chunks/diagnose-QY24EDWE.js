import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d}from"./chunk-EOXRV7ZU.js";import"./chunk-3JMMDNI5.js";import"./chunk-KSPDFALF.js";import"./chunk-7QTSCN7D.js";import"./chunk-2JTGJ47R.js";export{a as DIAGNOSE_TIMEOUT_MS,c as LARGE_PROBE_BYTES,b as MEDIUM_PROBE_BYTES,d as diagnose};
