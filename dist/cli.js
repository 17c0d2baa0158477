#!/usr/bin/env node
import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a as t,b as h,c as A,d as x,e as I,f as F,h as C,i as L,j as v,m as O,n as S}from"./chunks/chunk-42OLSOAX.js";import{f as N}from"./chunks/chunk-BHWXNRQN.js";import"./chunks/chunk-VS6SNA7U.js";import"./chunks/chunk-6MFMAJMJ.js";import{d as $}from"./chunks/chunk-GDPSAWWU.js";import"./chunks/chunk-FUPEFSKH.js";import{f,g as b}from"./chunks/chunk-B32WQMAV.js";import{constants as W}from"node:fs";import{access as _,stat as H,writeFile as J}from"node:fs/promises";import{dirname as q,resolve as K}from"node:path";import{text as Y}from"node:stream/consumers";var u={summaryFile:"summary-file",json:"json",verbose:"verbose",help:"help",passwordStdin:"password-stdin",maxProbe:"max-probe"},j=new Set(Object.values(t)),R=new Set([t.insecure,t.pushByDigest,t.summary,u.json,u.verbose,u.help,u.passwordStdin,u.maxProbe]),D=new Set(Object.values(u)),G=new Set([t.tags]);function M(o){let s=new Map,i=[...o],a="push",n;for((i[0]==="push"||i[0]==="diagnose")&&(a=i.shift());i.length;){let d=i.shift();if(d==="-h"){s.set(u.help,["true"]);continue}let r=/^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(d);if(!r&&a==="diagnose"&&n===void 0&&!d.startsWith("-")){n=d;continue}if(!r)throw new f(`unexpected argument ${JSON.stringify(d)}`);let e=r[1];if(!j.has(e)&&!D.has(e))throw new f(`unknown flag --${e}`);let m=r[2];if(m===void 0)if(R.has(e))m=i[0]!==void 0&&A(i[0])?i.shift():"true";else{let g=i.shift();if(g===void 0||g.startsWith("--"))throw new f(`flag --${e} needs a value`);m=g}R.has(e)&&x(`--${e}`,m);let p=s.get(e)??[];if(p.length&&!G.has(e))throw new f(`flag --${e} given more than once`);p.push(m),s.set(e,p)}let l=d=>x(`--${d}`,s.get(d)?.[0]??"false"),c={};for(let[d,r]of s)j.has(d)&&(c[d]=r.join(`
`));if(a==="diagnose"&&n===void 0&&!l(u.help))throw new f("diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app");return{command:a,ref:n,maxProbe:l(u.maxProbe),inputs:c,summaryFile:s.get(u.summaryFile)?.[0],json:l(u.json),verbose:l(u.verbose),help:l(u.help),passwordStdin:l(u.passwordStdin)}}var T=`Usage: oci-push [push] (--layout PATH[:REF] | --image NAME) --tags REF [--tags REF ...] [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image layout (folder or tar) to one or more registries, verifying every blob
before any manifest is pushed.

Options (each is also an input of the GitHub Action, with the same default):
    --${t.layout} PATH[:REF]     OCI layout folder or tar(.gz), or docker-archive; REF picks an image
  --${t.image} NAME            a local image in docker or podman, instead of --${t.layout}
  --${t.engine} ENGINE         auto, docker or podman (default ${h[t.engine]})
  --${t.compression} C         gzip or none, for docker-archive layers (default ${h[t.compression]})
  --${t.tags} REF              target reference; repeat, or separate with commas
  --${t.username} USER         registry user (with --${t.password} or --${u.passwordStdin})
  --${t.password} PASSWORD     registry password or token
  --${u.passwordStdin}         read the password from standard input
  --${t.insecure}              allow http and unverified TLS for non-loopback registries
  --${t.concurrency} N         blobs uploaded at once (default ${h[t.concurrency]})
  --${t.retries} N             tries again per request and per blob, one shared budget (default ${h[t.retries]})
  --${t.uploadMode} MODE       auto, monolithic or chunked (default ${h[t.uploadMode]})
  --${t.chunkSize} SIZE        chunk size, such as 50MiB or 100MB (default ${h[t.chunkSize]})
  --${t.summary} BOOL          write the summary (default ${h[t.summary]})
  --${u.summaryFile} FILE    write the markdown summary to FILE
  --${u.json}                 print the outputs as JSON on stdout
  --${u.verbose}              log every request
  --${t.diagnose} WHEN          on-failure or never (the action probes the registry after a failure)

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind. --${u.maxProbe} also
uploads 100 MB + 1 byte (Cloudflare's Free and Pro limit).

Exit codes: 0 pushed (diagnose: every check passed), 1 push failed, bad input, or a check failed,
2 bad usage.
`;var k=class{secrets=[];add(s){s.length<3||this.secrets.includes(s)||(this.secrets.push(s),this.secrets.sort((i,a)=>a.length-i.length))}mask(s){let i=s;for(let a of this.secrets)i=i.split(a).join("***");return i}};function B(o,s=new k){let i=o.write??(n=>process.stderr.write(`${n}
`)),a=(n,l)=>i(s.mask(`${n}${$(l)}`));return{masker:s,debug:n=>{o.verbose&&a("debug: ",n)},info:n=>a("",n),warning:n=>a("warning: ",n),secret:n=>s.add(n),group:async(n,l)=>(a("== ",n),l())}}var Z={stdout:o=>process.stdout.write(o),stderr:o=>process.stderr.write(o),stdin:()=>Y(process.stdin)};async function U(o,s=Z,i){let a=B({verbose:o.includes("--verbose"),write:r=>s.stderr(`${r}
`)}),n=(r,e)=>(s.stderr(`${a.masker.mask(`oci-push: ${$(r)}`)}
`),e),l=r=>{let e=n(r.message,2);return s.stderr(`(see oci-push --help)
`),e},c;try{if(c=M(o),c.help)return s.stdout(T),0;c.passwordStdin&&(c.inputs[t.password]=(await s.stdin()).replace(/\r?\n$/,""));let r=c.inputs[t.password];r&&a.secret(r)}catch(r){return r instanceof f?l(r):n(b(r),1)}let d=r=>c.inputs[r]??"";try{if(c.command==="diagnose")return await Q(c,d,a,s);let r=await I(d,"the username and password flags");c.summaryFile&&await V(c.summaryFile);let e=await C(r,{logger:a,signal:i?.signal});if(c.summaryFile&&r.summary&&await J(c.summaryFile,a.masker.mask(O(e))),c.json){let m=L(e),p={ok:e.ok};for(let[w,y]of Object.entries(m))p[w]=/^[[{]/.test(y)||/^\d+$/.test(y)?JSON.parse(y):y;e.error&&(p.error=e.error.message);let g=S(e);g.length&&(p.causes=g.map(w=>({id:w.cause.id,title:w.cause.title,fix:w.cause.fix,blobs:w.blobs}))),s.stdout(`${a.masker.mask(JSON.stringify(p,null,2))}
`)}else if(e.ok){s.stdout(`${e.digest}
`);for(let m of e.refs)s.stdout(`${m}
`)}if(e.ok)return 0;if(e.cause==="cancelled")return n(b(e.error),N(i?.received()));n(b(e.error),1);for(let{cause:m,blobs:p}of S(e)){let g=p.length?` (${p.length} blob${p.length===1?"":"s"})`:"";s.stderr(`  probable cause${g}: ${m.title}
  fix: ${m.fix}
`)}return 1}catch(r){return r instanceof f?l(r):n(b(r),1)}}async function Q(o,s,i,a){let n=await F(s,o.ref??"",o.maxProbe),{diagnose:l}=await import("./chunks/diagnose-YHI5FYAL.js"),c=await l(n,{logger:i}),d=c.filter(r=>r.ok===!1);for(let r of new Set(d.map(e=>e.cause??"unknown"))){let e=v(r);a.stderr(`probable cause: ${e.title}
fix: ${e.fix}
`)}if(o.json){let r=c.map(e=>({...e,...e.cause?{cause:v(e.cause)}:{}}));a.stdout(`${i.masker.mask(JSON.stringify({ok:!d.length,findings:r},null,2))}
`)}return d.length?1:0}async function V(o){let s=q(K(o));if(!(await H(s).catch(()=>{}))?.isDirectory())throw new f(`--summary-file ${o}: the folder ${s} does not exist`);await _(s,W.W_OK).catch(()=>{throw new f(`--summary-file ${o}: the folder ${s} is not writable`)})}process.exitCode=1;var E=!1;process.once("beforeExit",()=>{E||process.stderr.write(`oci-push: stopped before finishing: an operation never completed (a bug; please report it)
`)});function X(o){process.exitCode=o,process.stdout.write("",()=>process.stderr.write("",()=>process.exit(o)))}var z=new AbortController,P;for(let o of["SIGINT","SIGTERM"])process.on(o,()=>{P&&process.exit(130),P=o,z.abort()});U(process.argv.slice(2),void 0,{signal:z.signal,received:()=>P}).then(o=>{E=!0,X(o)},o=>{E=!0,process.stderr.write(`oci-push: ${b(o)}
`),process.exitCode=1});
