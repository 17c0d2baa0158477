#!/usr/bin/env node
import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a as s,b as h,c as v,d as w,e as S,f as E,h as P,i as A,j as $,m as I,n as y}from"./chunks/chunk-B2EOZLZF.js";import"./chunks/chunk-JX2ZCO52.js";import"./chunks/chunk-3NZUCUSL.js";import"./chunks/chunk-PWQ24ZU3.js";import"./chunks/chunk-FUPEFSKH.js";import{f as g,g as b}from"./chunks/chunk-B32WQMAV.js";import{writeFile as B}from"node:fs/promises";import{text as T}from"node:stream/consumers";var d={summaryFile:"summary-file",json:"json",verbose:"verbose",help:"help",passwordStdin:"password-stdin",maxProbe:"max-probe"},N=new Set(Object.values(s)),F=new Set([s.insecure,s.pushByDigest,s.summary,d.json,d.verbose,d.help,d.passwordStdin,d.maxProbe]),R=new Set(Object.values(d)),M=new Set([s.tags]);function O(a){let o=new Map,n=[...a],u="push",e;for((n[0]==="push"||n[0]==="diagnose")&&(u=n.shift());n.length;){let r=n.shift();if(r==="-h"){o.set(d.help,["true"]);continue}let c=/^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(r);if(!c&&u==="diagnose"&&e===void 0&&!r.startsWith("-")){e=r;continue}if(!c)throw new g(`unexpected argument ${JSON.stringify(r)}`);let t=c[1];if(!N.has(t)&&!R.has(t))throw new g(`unknown flag --${t}`);let l=c[2];if(l===void 0)if(F.has(t))l=n[0]!==void 0&&v(n[0])?n.shift():"true";else{let f=n.shift();if(f===void 0||f.startsWith("--"))throw new g(`flag --${t} needs a value`);l=f}F.has(t)&&w(`--${t}`,l);let m=o.get(t)??[];if(m.length&&!M.has(t))throw new g(`flag --${t} given more than once`);m.push(l),o.set(t,m)}let p=r=>w(`--${r}`,o.get(r)?.[0]??"false"),i={};for(let[r,c]of o)N.has(r)&&(i[r]=c.join(`
`));if(u==="diagnose"&&e===void 0&&!p(d.help))throw new g("diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app");return{command:u,ref:e,maxProbe:p(d.maxProbe),inputs:i,summaryFile:o.get(d.summaryFile)?.[0],json:p(d.json),verbose:p(d.verbose),help:p(d.help),passwordStdin:p(d.passwordStdin)}}var C=`Usage: oci-push [push] (--layout PATH[:REF] | --image NAME) --tags REF [--tags REF ...] [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image layout (folder or tar) to one or more registries, verifying every blob
before any manifest is pushed.

Options (each is also an input of the GitHub Action, with the same default):
    --${s.layout} PATH[:REF]     OCI layout folder or tar(.gz), or docker-archive; REF picks an image
  --${s.image} NAME            a local image in docker or podman, instead of --${s.layout}
  --${s.engine} ENGINE         auto, docker or podman (default ${h[s.engine]})
  --${s.compression} C         gzip or none, for docker-archive layers (default ${h[s.compression]})
  --${s.tags} REF              target reference; repeat, or separate with commas
  --${s.username} USER         registry user (with --${s.password} or --${d.passwordStdin})
  --${s.password} PASSWORD     registry password or token
  --${d.passwordStdin}         read the password from standard input
  --${s.insecure}              allow http and unverified TLS for non-loopback registries
  --${s.concurrency} N         blobs uploaded at once (default ${h[s.concurrency]})
  --${s.retries} N             tries again per request and per blob, one shared budget (default ${h[s.retries]})
  --${s.uploadMode} MODE       auto, monolithic or chunked (default ${h[s.uploadMode]})
  --${s.chunkSize} SIZE        chunk size, such as 50MiB or 100MB (default ${h[s.chunkSize]})
  --${s.summary} BOOL          write the summary (default ${h[s.summary]})
  --${d.summaryFile} FILE    write the markdown summary to FILE
  --${d.json}                 print the outputs as JSON on stdout
  --${d.verbose}              log every request
  --${s.diagnose} WHEN          on-failure or never (the action probes the registry after a failure)

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind. --${d.maxProbe} also
uploads 100 MB + 1 byte (Cloudflare's Free and Pro limit).

Exit codes: 0 pushed (diagnose: every check passed), 1 push failed, bad input, or a check failed,
2 bad usage.
`;var x=class{secrets=[];add(o){o.length<3||this.secrets.includes(o)||(this.secrets.push(o),this.secrets.sort((n,u)=>u.length-n.length))}mask(o){let n=o;for(let u of this.secrets)n=n.split(u).join("***");return n}};function L(a,o=new x){let n=a.write??(e=>process.stderr.write(`${e}
`)),u=(e,p)=>n(o.mask(`${e}${p}`));return{masker:o,debug:e=>{a.verbose&&u("debug: ",e)},info:e=>u("",e),warning:e=>u("warning: ",e),secret:e=>o.add(e),group:async(e,p)=>(u("== ",e),p())}}var U={stdout:a=>process.stdout.write(a),stderr:a=>process.stderr.write(a),stdin:()=>T(process.stdin)};async function j(a,o=U){let n=L({verbose:a.includes("--verbose"),write:i=>o.stderr(`${i}
`)}),u=(i,r)=>(o.stderr(`${n.masker.mask(`oci-push: ${i}`)}
`),r),e;try{if(e=O(a),e.help)return o.stdout(C),0;e.passwordStdin&&(e.inputs[s.password]=(await o.stdin()).replace(/\r?\n$/,""));let i=e.inputs[s.password];i&&n.secret(i)}catch(i){return i instanceof g?u(`${i.message}
(see oci-push --help)`,2):u(b(i),1)}let p=i=>e.inputs[i]??"";try{if(e.command==="diagnose")return await z(e,p,n,o);let i=await S(p,"the username and password flags"),r=await P(i,{logger:n});if(e.summaryFile&&i.summary&&await B(e.summaryFile,n.masker.mask(I(r))),e.json){let c=A(r),t={ok:r.ok};for(let[m,f]of Object.entries(c))t[m]=/^[[{]/.test(f)||/^\d+$/.test(f)?JSON.parse(f):f;r.error&&(t.error=r.error.message);let l=y(r);l.length&&(t.causes=l.map(m=>({id:m.cause.id,title:m.cause.title,fix:m.cause.fix,blobs:m.blobs}))),o.stdout(`${n.masker.mask(JSON.stringify(t,null,2))}
`)}else if(r.ok){o.stdout(`${r.digest}
`);for(let c of r.refs)o.stdout(`${c}
`)}if(r.ok)return 0;u(b(r.error),1);for(let{cause:c,blobs:t}of y(r)){let l=t.length?` (${t.length} blob${t.length===1?"":"s"})`:"";o.stderr(`  probable cause${l}: ${c.title}
  fix: ${c.fix}
`)}return 1}catch(i){return i instanceof g?u(`${i.message}
(see oci-push --help)`,2):u(b(i),1)}}async function z(a,o,n,u){let e=await E(o,a.ref??"",a.maxProbe),{diagnose:p}=await import("./chunks/diagnose-RNJ35M65.js"),i=await p(e,{logger:n}),r=i.filter(c=>c.ok===!1);for(let c of new Set(r.map(t=>t.cause??"unknown"))){let t=$(c);u.stderr(`probable cause: ${t.title}
fix: ${t.fix}
`)}if(a.json){let c=i.map(t=>({...t,...t.cause?{cause:$(t.cause)}:{}}));u.stdout(`${n.masker.mask(JSON.stringify({ok:!r.length,findings:c},null,2))}
`)}return r.length?1:0}process.exitCode=1;var k=!1;process.once("beforeExit",()=>{k||process.stderr.write(`oci-push: stopped before finishing: an operation never completed (a bug; please report it)
`)});function D(a){process.exitCode=a,process.stdout.write("",()=>process.stderr.write("",()=>process.exit(a)))}j(process.argv.slice(2)).then(a=>{k=!0,D(a)},a=>{k=!0,process.stderr.write(`oci-push: ${b(a)}
`),process.exitCode=1});
