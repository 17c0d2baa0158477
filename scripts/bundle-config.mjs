// How dist/ is built, shared by `npm run bundle` and the test that holds the bundle to its budget.
//
// undici is CommonJS, which esbuild cannot tree-shake: importing its public entry bundles fetch,
// WebSocket, EventSource, caches and mocks, none of which this tool calls. And @actions/core pulls
// in @actions/http-client (with a second undici) for an OIDC path the tool never takes. Both are
// left out here, at build time: undici is still entered through its public index, but each of its
// files that the agents we dispatch through cannot reach becomes a stand-in that throws if it is
// ever called. Nothing at run time is patched.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's budget (bytes, every file in dist/): the issue's 600 KiB. */
export const MAX_DIST_BYTES = 600 * 1024;

/** The public undici classes oci-push dispatches through; every file they require is kept. */
const UNDICI_ROOTS = [
  'lib/dispatcher/agent.js',
  'lib/dispatcher/proxy-agent.js',
  'lib/dispatcher/dispatcher.js',
  // Dispatcher.prototype.request, which index.js assigns from here.
  'lib/api/index.js',
  'lib/core/errors.js',
  'lib/global.js',
];

/**
 * undici files its roots require that oci-push never reaches, and why: proxy-agent.js requires
 * its SOCKS agent at load, and only calls it for a socks:// proxy, which proxy.ts refuses as input.
 */
const UNDICI_NEVER_REACHED = {
  'lib/dispatcher/socks5-proxy-agent.js':
    'SOCKS proxies are refused as input (src/registry/proxy.ts)',
};

/**
 * Whole packages left out, why they are never reached, and the names their importers take (ES
 * modules import by name; a name missing here fails the build, as an upgrade that uses more must).
 */
const LEFT_OUT_PACKAGES = {
  '@actions/http-client': {
    why: "@actions/core's OIDC token client (getIDToken), never called",
    names: ['HttpClient', 'BearerCredentialHandler'],
  },
};

/**
 * What a left-out module is replaced by: inert while a module that lists it loads (undici's index
 * constructs a cache store), an error once anything in it is called. CommonJS unless `names`.
 */
function standIn(what, names) {
  const exports = names
    ? `${names.map((name) => `export const ${name} = inert;`).join('\n')}\nexport default inert;`
    : 'module.exports = inert;';
  return `const reached = () => {
  throw new Error(${JSON.stringify(`oci-push: ${what} is not part of this build, yet was called; please report this`)});
};
const inert = new Proxy(function () {}, {
  get: (_, key) => (typeof key === 'symbol' || key === '__esModule' || key === 'then' ? undefined : inert),
  apply: reached,
  construct: () => inert,
});
${exports}
`;
}

const undiciDir = join(ROOT, 'node_modules', 'undici');

/** Every undici file the roots require, as esbuild resolves them (absolute paths). */
async function undiciKept() {
  const entry = UNDICI_ROOTS.map((file) => `require(${JSON.stringify(join(undiciDir, file))});`);
  const result = await build({
    stdin: { contents: entry.join('\n'), resolveDir: ROOT, loader: 'js' },
    bundle: true,
    platform: 'node',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return new Set(Object.keys(result.metafile.inputs).map((input) => join(ROOT, input)));
}

/** The esbuild plugin that leaves out what the tool never reaches (see the top of this file). */
export function leaveOut() {
  return {
    name: 'oci-push-leave-out',
    setup(plugin) {
      let kept;
      plugin.onStart(async () => {
        kept = await undiciKept();
      });
      for (const [name, leftOut] of Object.entries(LEFT_OUT_PACKAGES)) {
        const filter = new RegExp(`^${name.replace(/[/@]/g, '\\$&')}(/.*)?$`);
        plugin.onResolve({ filter }, (args) => ({
          path: args.path,
          namespace: 'left-out',
          pluginData: leftOut,
        }));
      }
      plugin.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
        contents: standIn(`${args.path} (${args.pluginData.why})`, args.pluginData.names),
        loader: 'js',
      }));
      plugin.onLoad({ filter: /[\\/]node_modules[\\/]undici[\\/].*\.js$/ }, async (args) => {
        const file = relative(undiciDir, args.path).split(sep).join('/');
        const never = UNDICI_NEVER_REACHED[file];
        if (never) return { contents: standIn(`undici's ${file} (${never})`), loader: 'js' };
        if (file.startsWith('..') || file === 'index.js' || kept.has(args.path)) return undefined;
        return { contents: standIn(`undici's ${file}`), loader: 'js' };
      });
    },
  };
}

/** Builds dist/ (or `outdir`); returns esbuild's metafile. */
export async function bundle(outdir = join(ROOT, 'dist')) {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'none',
    metafile: true,
    define: { __OCI_PUSH_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
    plugins: [leaveOut()],
    // CommonJS dependencies (undici) need a `require` inside the ESM output.
    banner: {
      js: "import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);",
    },
  });
  return result.metafile;
}
