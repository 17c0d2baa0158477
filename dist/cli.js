#!/usr/bin/env node
import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a as e,b as l,c as k,d as v,e as S,g as E}from"./chunks/chunk-HY2MVTBI.js";import"./chunks/chunk-U6W7J5XY.js";import"./chunks/chunk-2BUDIUXQ.js";import{a as $}from"./chunks/chunk-B4G3WHUK.js";import"./chunks/chunk-7QTSCN7D.js";import{f as c,g as f}from"./chunks/chunk-2JTGJ47R.js";import{writeFile as j}from"node:fs/promises";import{text as I}from"node:stream/consumers";var p={summaryFile:"summary-file",json:"json",verbose:"verbose",help:"help",passwordStdin:"password-stdin",maxProbe:"max-probe"},x=new Set(Object.values(e)),N=new Set([e.insecure,e.pushByDigest,p.json,p.verbose,p.help,p.passwordStdin]),O=new Set(Object.values(p)),L=new Set([e.tags]);function P(n){let r=new Map,a=[...n],s="push",t;for((a[0]==="push"||a[0]==="diagnose")&&(s=a.shift());a.length;){let i=a.shift();if(i==="-h"){r.set(p.help,["true"]);continue}let m=/^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(i);if(!m&&s==="diagnose"&&t===void 0&&!i.startsWith("-")){t=i;continue}if(!m)throw new c(`unexpected argument ${JSON.stringify(i)}`);let d=m[1];if(!x.has(d)&&!O.has(d))throw new c(`unknown flag --${d}`);let g=m[2];if(g===void 0)if(N.has(d))g="true";else{let y=a.shift();if(y===void 0)throw new c(`flag --${d} needs a value`);g=y}let h=r.get(d)??[];if(h.length&&!L.has(d))throw new c(`flag --${d} given more than once`);h.push(g),r.set(d,h)}let o=i=>/^(true|1|yes)$/i.test(r.get(i)?.[0]??"false"),u={};for(let[i,m]of r)x.has(i)&&(u[i]=m.join(`
`));if(s==="diagnose"&&t===void 0&&!o(p.help))throw new c("diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app");return{command:s,ref:t,maxProbe:o(p.maxProbe),inputs:u,summaryFile:r.get(p.summaryFile)?.[0],json:o(p.json),verbose:o(p.verbose),help:o(p.help),passwordStdin:o(p.passwordStdin)}}var A=`Usage: oci-push [push] (--layout PATH[:REF] | --image NAME) --tags REF [--tags REF ...] [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image layout (folder or tar) to one or more registries, verifying every blob
before any manifest is pushed.

Options (each is also an input of the GitHub Action, with the same default):
    --${e.layout} PATH[:REF]     OCI layout folder or tar(.gz), or docker-archive; REF picks an image
  --${e.image} NAME            a local image in docker or podman, instead of --${e.layout}
  --${e.engine} ENGINE         auto, docker or podman (default ${l[e.engine]})
  --${e.compression} C         gzip or none, for docker-archive layers (default ${l[e.compression]})
  --${e.tags} REF              target reference; repeat, or separate with commas
  --${e.username} USER         registry user (with --${e.password} or --${p.passwordStdin})
  --${e.password} PASSWORD     registry password or token
  --${p.passwordStdin}         read the password from standard input
  --${e.insecure}              allow http and unverified TLS for non-loopback registries
  --${e.concurrency} N         blobs uploaded at once (default ${l[e.concurrency]})
  --${e.retries} N             retries per request (default ${l[e.retries]})
  --${e.uploadMode} MODE       auto, monolithic or chunked (default ${l[e.uploadMode]})
  --${e.chunkSize} SIZE        chunk size, such as 50MiB or 100MB (default ${l[e.chunkSize]})
  --${e.summary} BOOL          write the summary (default ${l[e.summary]})
  --${p.summaryFile} FILE    write the markdown summary to FILE
  --${p.json}                 print the outputs as JSON on stdout
  --${p.verbose}              log every request
  --${e.diagnose} WHEN          on-failure or never (the action probes the registry after a failure)

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind. --${p.maxProbe} also
uploads 100 MB + 1 byte (Cloudflare's Free and Pro limit).

Exit codes: 0 pushed (diagnose: every check passed), 1 push failed, bad input, or a check failed,
2 bad usage.
`;var w=class{secrets=[];add(r){r.length<3||this.secrets.includes(r)||(this.secrets.push(r),this.secrets.sort((a,s)=>s.length-a.length))}mask(r){let a=r;for(let s of this.secrets)a=a.split(s).join("***");return a}};function F(n,r=new w){let a=n.write??(t=>process.stderr.write(`${t}
`)),s=(t,o)=>a(r.mask(`${t}${o}`));return{masker:r,debug:t=>{n.verbose&&s("debug: ",t)},info:t=>s("",t),warning:t=>s("warning: ",t),secret:t=>r.add(t),group:async(t,o)=>(s("== ",t),o())}}async function R(n){let r=F({verbose:n.includes("--verbose")}),a=(u,i)=>(process.stderr.write(`${r.masker.mask(`oci-push: ${u}`)}
`),i),s,t;try{if(s=P(n),s.help)return process.stdout.write(A),0;s.passwordStdin&&(s.inputs[e.password]=(await I(process.stdin)).replace(/\r?\n$/,""));let u=s.inputs[e.password];if(u&&r.secret(u),s.command==="diagnose")return await C(s,r);t=k(i=>s.inputs[i]??"")}catch(u){return u instanceof c?a(`${u.message}
(see oci-push --help)`,2):a(f(u),1)}let o=await v(t,{logger:r});if(s.summaryFile&&t.summary&&await j(s.summaryFile,r.masker.mask(E(o))),s.json){let u=S(o),i={ok:o.ok};for(let[m,d]of Object.entries(u))i[m]=/^[[{]/.test(d)||/^\d+$/.test(d)?JSON.parse(d):d;o.error&&(i.error=o.error.message),process.stdout.write(`${r.masker.mask(JSON.stringify(i,null,2))}
`)}else if(o.ok){process.stdout.write(`${o.digest}
`);for(let u of o.refs)process.stdout.write(`${u}
`)}return o.ok?0:a(f(o.error),1)}async function C(n,r){let a=$(n.ref??""),s=n.inputs[e.username]?.trim(),t=n.inputs[e.password];if(!!s!=!!t)throw new c("--username and --password go together");let{diagnose:o}=await import("./chunks/diagnose-VOTRPF4X.js"),u=await o({ref:a,credentials:s&&t?{username:s,password:t,source:"the username and password flags"}:void 0,insecure:/^(true|1|yes)$/i.test(n.inputs[e.insecure]??"false"),maxProbe:n.maxProbe,logger:r});return n.json&&process.stdout.write(`${r.masker.mask(JSON.stringify({ok:u.every(i=>i.ok),findings:u},null,2))}
`),u.every(i=>i.ok)?0:1}process.exitCode=1;var b=!1;process.once("beforeExit",()=>{b||process.stderr.write(`oci-push: stopped before finishing: an operation never completed (a bug; please report it)
`)});function M(n){process.exitCode=n,process.stdout.write("",()=>process.stderr.write("",()=>process.exit(n)))}R(process.argv.slice(2)).then(n=>{b=!0,M(n)},n=>{b=!0,process.stderr.write(`oci-push: ${f(n)}
`),process.exitCode=1});
