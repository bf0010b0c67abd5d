// Rewrites crates/nm_figure/tests/palette_reference.txt from palette.js (run after changing the palette:
// `node tests/browser/helpers/palette_reference.js`), then make nm_figure's palette.rs agree with it.
import { writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXED, FIXED_CLASSES, generatedColour } from '../../../crates/nm_server/ui/js/palette.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const lines = [
  `# Class colours of crates/nm_server/ui/js/palette.js: the ${FIXED_CLASSES} fixed ones, then generatedColour(0..1000).`,
  '# Written by tests/browser/helpers/palette_reference.js; tests/browser/palette.test.js and',
  "# nm_figure's tests/figure.rs check both implementations against it.",
  ...FIXED,
  ...Array.from({ length: 1000 }, (_, i) => generatedColour(i)),
];
writeFileSync(join(repo, 'crates', 'nm_figure', 'tests', 'palette_reference.txt'), lines.join('\n') + '\n');
