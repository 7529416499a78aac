#!/usr/bin/env node
// uci-to-tsv.js - converts one labelled-sentence fixture of the npm package sentiment
// (UCI "Sentiment Labelled Sentences", Kotzias et al., KDD 2015: [{"text", "class": 0|1}])
// into the TSV read by sentiment_eval.c and reference.js. Used by tools/fetch-lexicons.
//
//   node uci-to-tsv.js FIXTURE.json NAME > uci_NAME.tsv
'use strict';
const fs = require('fs');
const [file, name] = process.argv.slice(2);
if (!file || !name) {
  console.error('usage: uci-to-tsv.js FIXTURE.json NAME');
  process.exit(2);
}
const rows = JSON.parse(fs.readFileSync(file, 'utf8'));
const out = [
  `# UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015), ${name}, as shipped by the`,
  '# npm package sentiment; binary labels, escalation not labelled.',
  'text\tpolarity\tescalate',
];
let skipped = 0;
for (const r of rows) {
  if (r && r.text === '' && r.class === null) { // the fixtures hold a few empty rows
    skipped++;
    continue;
  }
  if (typeof r.text !== 'string' || (r.class !== 0 && r.class !== 1)) {
    console.error(`uci-to-tsv.js: ${file}: bad row ${JSON.stringify(r)}`);
    process.exit(1);
  }
  const text = r.text.replace(/[\t\r\n]+/g, ' ').trim();
  if (text) out.push(`${text}\t${r.class === 1 ? 'positive' : 'negative'}\tno`);
}
process.stdout.write(out.join('\n') + '\n');
