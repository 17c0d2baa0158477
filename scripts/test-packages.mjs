// The Debian packages the tests need, by the binary each provides. Shared by the test setup (which
// installs them as root) and the CI workflow; run directly, it prints the package names.
export const REQUIRED = {
  '/usr/bin/docker-registry': 'docker-registry',
  '/usr/bin/skopeo': 'skopeo',
  '/usr/bin/htpasswd': 'apache2-utils',
  '/usr/sbin/nginx': 'nginx-light',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/podman': 'podman',
  '/usr/sbin/squid': 'squid',
};

/** What `npm run screenshots` needs besides: a browser that renders the summaries headless. */
export const SCREENSHOTS = {
  '/usr/bin/chromium': 'chromium',
};

if (import.meta.url === `file://${process.argv[1]}`)
  console.log([...new Set(Object.values(REQUIRED))].join(' '));
