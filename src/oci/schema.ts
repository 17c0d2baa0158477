// zod's mini build: the same validation for a fraction of the start-up cost (the full build adds
// ~45 ms to every run, which is most of a re-push). English messages keep error lines specific.
// Users import this module as a namespace (`import * as z`) and only read members from it, so the
// bundle keeps only what they use: a namespace object passed around would also bundle every locale
// zod ships, 260 KB parsed at every start.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
