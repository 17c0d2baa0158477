// zod's mini build: the same validation for a fraction of the start-up cost (the full build adds
// ~45 ms to every run, which is most of a re-push). English messages keep error lines specific.
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export { z };
