import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a,b,c,d}from"./chunk-35Q2FKFU.js";import"./chunk-O2N5HUTZ.js";import"./chunk-WSJLYY23.js";import"./chunk-7QTSCN7D.js";import"./chunk-2JTGJ47R.js";export{a as DIAGNOSE_TIMEOUT_MS,c as LARGE_PROBE_BYTES,b as MEDIUM_PROBE_BYTES,d as diagnose};
