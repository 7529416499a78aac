#!/usr/bin/env node
// reference-lines.js - the end-to-end reference for `churnctl sentiment`: lines on stdin, one
// JSON object per line on stdout with the npm vader-sentiment's scores (text, compound,
// positive, negative, neutral), read and written the ordinary node way (readline,
// JSON.stringify, one buffered stdout). Used by tools/bench/sentiment-cli.
//
//   node tools/sentiment-eval/reference-lines.js < lines > json-lines
'use strict';
const path = require('path');
const readline = require('readline');

const root = path.resolve(__dirname, '..', '..');
let vader;
try {
  vader = require(path.join(root, 'lexicons', 'vendor', 'node_modules', 'vader-sentiment'));
} catch (e) {
  console.error('reference-lines.js: vader-sentiment is not installed: run tools/setup');
  process.exit(1);
}
const out = [];
let pending = 0;
const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
rl.on('line', (text) => {
  const s = vader.SentimentIntensityAnalyzer.polarity_scores(text);
  out.push(JSON.stringify({text, compound: s.compound, positive: s.pos, negative: s.neg,
                           neutral: s.neu}));
  if (++pending >= 1024) {
    process.stdout.write(out.join('\n') + '\n');
    out.length = 0;
    pending = 0;
  }
});
rl.on('close', () => {
  if (out.length) process.stdout.write(out.join('\n') + '\n');
});
