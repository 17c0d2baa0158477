#!/usr/bin/env node
import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);
import{a as e,b as l,c as k,d as S,e as x,g as E}from"./chunks/chunk-TP26ZROF.js";import"./chunks/chunk-T5MP7ATI.js";import{a as v}from"./chunks/chunk-547GBSTM.js";import"./chunks/chunk-O2N5HUTZ.js";import{a as $}from"./chunks/chunk-WSJLYY23.js";import"./chunks/chunk-7QTSCN7D.js";import{f as d,g as f}from"./chunks/chunk-2JTGJ47R.js";import{writeFile as I}from"node:fs/promises";import{text as R}from"node:stream/consumers";var u={summaryFile:"summary-file",json:"json",verbose:"verbose",help:"help",passwordStdin:"password-stdin",maxProbe:"max-probe"},P=new Set(Object.values(e)),O=new Set([e.insecure,e.pushByDigest,u.json,u.verbose,u.help,u.passwordStdin,u.maxProbe]),L=new Set(Object.values(u)),j=new Set([e.tags]);function A(o){let r=new Map,a=[...o],s="push",t;for((a[0]==="push"||a[0]==="diagnose")&&(s=a.shift());a.length;){let i=a.shift();if(i==="-h"){r.set(u.help,["true"]);continue}let m=/^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(i);if(!m&&s==="diagnose"&&t===void 0&&!i.startsWith("-")){t=i;continue}if(!m)throw new d(`unexpected argument ${JSON.stringify(i)}`);let c=m[1];if(!P.has(c)&&!L.has(c))throw new d(`unknown flag --${c}`);let g=m[2];if(g===void 0)if(O.has(c))g="true";else{let w=a.shift();if(w===void 0||w.startsWith("--"))throw new d(`flag --${c} needs a value`);g=w}let h=r.get(c)??[];if(h.length&&!j.has(c))throw new d(`flag --${c} given more than once`);h.push(g),r.set(c,h)}let n=i=>/^(true|1|yes)$/i.test(r.get(i)?.[0]??"false"),p={};for(let[i,m]of r)P.has(i)&&(p[i]=m.join(`
`));if(s==="diagnose"&&t===void 0&&!n(u.help))throw new d("diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app");return{command:s,ref:t,maxProbe:n(u.maxProbe),inputs:p,summaryFile:r.get(u.summaryFile)?.[0],json:n(u.json),verbose:n(u.verbose),help:n(u.help),passwordStdin:n(u.passwordStdin)}}var F=`Usage: oci-push [push] (--layout PATH[:REF] | --image NAME) --tags REF [--tags REF ...] [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image layout (folder or tar) to one or more registries, verifying every blob
before any manifest is pushed.

Options (each is also an input of the GitHub Action, with the same default):
    --${e.layout} PATH[:REF]     OCI layout folder or tar(.gz), or docker-archive; REF picks an image
  --${e.image} NAME            a local image in docker or podman, instead of --${e.layout}
  --${e.engine} ENGINE         auto, docker or podman (default ${l[e.engine]})
  --${e.compression} C         gzip or none, for docker-archive layers (default ${l[e.compression]})
  --${e.tags} REF              target reference; repeat, or separate with commas
  --${e.username} USER         registry user (with --${e.password} or --${u.passwordStdin})
  --${e.password} PASSWORD     registry password or token
  --${u.passwordStdin}         read the password from standard input
  --${e.insecure}              allow http and unverified TLS for non-loopback registries
  --${e.concurrency} N         blobs uploaded at once (default ${l[e.concurrency]})
  --${e.retries} N             retries per request (default ${l[e.retries]})
  --${e.uploadMode} MODE       auto, monolithic or chunked (default ${l[e.uploadMode]})
  --${e.chunkSize} SIZE        chunk size, such as 50MiB or 100MB (default ${l[e.chunkSize]})
  --${e.summary} BOOL          write the summary (default ${l[e.summary]})
  --${u.summaryFile} FILE    write the markdown summary to FILE
  --${u.json}                 print the outputs as JSON on stdout
  --${u.verbose}              log every request
  --${e.diagnose} WHEN          on-failure or never (the action probes the registry after a failure)

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind. --${u.maxProbe} also
uploads 100 MB + 1 byte (Cloudflare's Free and Pro limit).

Exit codes: 0 pushed (diagnose: every check passed), 1 push failed, bad input, or a check failed,
2 bad usage.
`;var b=class{secrets=[];add(r){r.length<3||this.secrets.includes(r)||(this.secrets.push(r),this.secrets.sort((a,s)=>s.length-a.length))}mask(r){let a=r;for(let s of this.secrets)a=a.split(s).join("***");return a}};function N(o,r=new b){let a=o.write??(t=>process.stderr.write(`${t}
`)),s=(t,n)=>a(r.mask(`${t}${n}`));return{masker:r,debug:t=>{o.verbose&&s("debug: ",t)},info:t=>s("",t),warning:t=>s("warning: ",t),secret:t=>r.add(t),group:async(t,n)=>(s("== ",t),n())}}async function C(o){let r=N({verbose:o.includes("--verbose")}),a=(p,i)=>(process.stderr.write(`${r.masker.mask(`oci-push: ${p}`)}
`),i),s,t;try{if(s=A(o),s.help)return process.stdout.write(F),0;s.passwordStdin&&(s.inputs[e.password]=(await R(process.stdin)).replace(/\r?\n$/,""));let p=s.inputs[e.password];if(p&&r.secret(p),s.command==="diagnose")return await M(s,r);t=k(i=>s.inputs[i]??"")}catch(p){return p instanceof d?a(`${p.message}
(see oci-push --help)`,2):a(f(p),1)}let n=await S(t,{logger:r});if(s.summaryFile&&t.summary&&await I(s.summaryFile,r.masker.mask(E(n))),s.json){let p=x(n),i={ok:n.ok};for(let[m,c]of Object.entries(p))i[m]=/^[[{]/.test(c)||/^\d+$/.test(c)?JSON.parse(c):c;n.error&&(i.error=n.error.message),process.stdout.write(`${r.masker.mask(JSON.stringify(i,null,2))}
`)}else if(n.ok){process.stdout.write(`${n.digest}
`);for(let p of n.refs)process.stdout.write(`${p}
`)}return n.ok?0:a(f(n.error),1)}async function M(o,r){let a=$(o.ref??""),s=o.inputs[e.username]?.trim(),t=o.inputs[e.password];if(!!s!=!!t)throw new d("--username and --password go together");let{diagnose:n}=await import("./chunks/diagnose-C4EZMWXK.js"),p=await n({ref:a,credentials:s&&t?{username:s,password:t,source:"the username and password flags"}:void 0,insecure:/^(true|1|yes)$/i.test(o.inputs[e.insecure]??"false"),maxProbe:o.maxProbe,ca:await v(o.inputs[e.caFile]),githubToken:o.inputs[e.githubToken],logger:r});return o.json&&process.stdout.write(`${r.masker.mask(JSON.stringify({ok:p.every(i=>i.ok),findings:p},null,2))}
`),p.every(i=>i.ok)?0:1}process.exitCode=1;var y=!1;process.once("beforeExit",()=>{y||process.stderr.write(`oci-push: stopped before finishing: an operation never completed (a bug; please report it)
`)});function T(o){process.exitCode=o,process.stdout.write("",()=>process.stderr.write("",()=>process.exit(o)))}C(process.argv.slice(2)).then(o=>{y=!0,T(o)},o=>{y=!0,process.stderr.write(`oci-push: ${f(o)}
`),process.exitCode=1});
