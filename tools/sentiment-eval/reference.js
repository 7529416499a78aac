#!/usr/bin/env node
// reference.js - the reference analyzer for side-by-side figures: the npm package
// vader-sentiment (installed by tools/fetch-lexicons under lexicons/vendor/) on the same
// labelled TSVs and the same ~15-word sentences as sentiment_eval.c, with the same polarity
// thresholds (compound >= 0.05 positive, <= -0.05 negative) and the same macro-F1 (over the
// classes a set labels). VADER has no notion of churn intent, so its escalation rule is the
// usual baseline: escalate when compound <= -0.6.
//
// --analyzer wink runs the second reference of issue 17 instead, the npm package
// wink-sentiment 5.0.2 (installed by tools/fetch-lexicons under lexicons/vendor/wink/): its
// normalizedScore (-5..5) is positive above 0 and negative below 0 (wink's own reading), and
// the escalation baseline is normalizedScore <= -3 (the same 0.6 of the negative range).
//
//   node tools/sentiment-eval/reference.js [--analyzer vader|wink] [--data FILE]... [--seconds S]
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const data = [];
let seconds = 2.0;
let analyzer = 'vader';
for (let i = 2; i < process.argv.length; i += 2) {
  if (process.argv[i] === '--data' && i + 1 < process.argv.length) data.push(process.argv[i + 1]);
  else if (process.argv[i] === '--analyzer' && ['vader', 'wink'].includes(process.argv[i + 1]))
    analyzer = process.argv[i + 1];
  else if (process.argv[i] === '--seconds' && i + 1 < process.argv.length)
    seconds = parseFloat(process.argv[i + 1]);
  else {
    console.error('usage: reference.js [--analyzer vader|wink] [--data FILE]... [--seconds S]');
    process.exit(2);
  }
}
if (data.length === 0) {
  data.push(path.join(root, 'tests', 'data', 'support_chat_eval.tsv'));
  for (const set of ['amazon', 'imdb', 'yelp']) {
    const p = path.join(root, 'lexicons', 'vendor', 'datasets', `uci_${set}.tsv`);
    if (fs.existsSync(p)) data.push(p);
  }
}

// score(text) -> a number; polarity and escalation thresholds on it, per analyzer
const refs = {
  vader: {
    module: path.join(root, 'lexicons', 'vendor', 'node_modules', 'vader-sentiment'),
    name: 'vader-sentiment',
    score: (m, text) => m.SentimentIntensityAnalyzer.polarity_scores(text).compound,
    positive: 0.05, negative: -0.05, escalate: -0.6,
  },
  wink: {
    module: path.join(root, 'lexicons', 'vendor', 'wink', 'node_modules', 'wink-sentiment'),
    name: 'wink-sentiment',
    score: (m, text) => m(text).normalizedScore,
    positive: Number.MIN_VALUE, negative: -Number.MIN_VALUE, escalate: -3,
  },
};
const ref = refs[analyzer];
let mod;
try {
  mod = require(ref.module);
} catch (e) {
  console.error(`reference.js: ${ref.name} is not installed: run tools/setup`);
  process.exit(1);
}
const score = (text) => ref.score(mod, text);

const classes = {negative: 0, neutral: 1, positive: 2};
function loadRows(file) {
  const rows = [];
  let header = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const l = line.replace(/\r$/, '');
    if (l === '' || l.startsWith('#')) continue;
    if (!header) { header = true; continue; }
    const [text, pol, esc] = l.split('\t');
    if (!(pol in classes) || (esc !== 'yes' && esc !== 'no')) {
      console.error(`reference.js: ${file}: bad row: ${l}`);
      process.exit(2);
    }
    rows.push({text, polarity: classes[pol], escalate: esc === 'yes'});
  }
  return rows;
}

function evalSet(file, rows) {
  const confusion = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  let correct = 0, tp = 0, fp = 0, fn = 0;
  for (const r of rows) {
    const c = score(r.text);
    const pred = c >= ref.positive ? 2 : c <= ref.negative ? 0 : 1;
    confusion[r.polarity][pred]++;
    if (pred === r.polarity) correct++;
    const esc = c <= ref.escalate;
    if (esc && r.escalate) tp++;
    else if (esc) fp++;
    else if (r.escalate) fn++;
  }
  let f1sum = 0, n = 0;
  for (let c = 0; c < 3; c++) {
    let pred = 0, truth = 0;
    for (let k = 0; k < 3; k++) { pred += confusion[k][c]; truth += confusion[c][k]; }
    if (!truth) continue;
    n++;
    const p = pred ? confusion[c][c] / pred : 0, rc = confusion[c][c] / truth;
    f1sum += p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
  }
  return {
    dataset: file, n: rows.length,
    accuracy: +(correct / rows.length).toFixed(4),
    macro_f1: +(n ? f1sum / n : 0).toFixed(4),
    confusion: {negative: confusion[0], neutral: confusion[1], positive: confusion[2]},
    escalation: tp + fn ? {precision: +(tp + fp ? tp / (tp + fp) : 0).toFixed(4),
                           recall: +(tp / (tp + fn)).toFixed(4), tp, fp, fn} : null,
  };
}

const datasets = data.map((f) => evalSet(f, loadRows(f)));

// the same sentences as sentiment_eval.c: row i followed by the next rows, cut at 15 words
const rows = loadRows(data[0]);
const sentences = [];
let wordsTotal = 0;
const ns = Math.min(rows.length, 512);
for (let i = 0; i < ns; i++) {
  const words = [];
  for (let k = 0; k < rows.length && words.length < 15; k++) {
    for (const w of rows[(i + k) % rows.length].text.split(' ')) {
      if (w === '') continue;
      if (words.length >= 15) break;
      words.push(w);
    }
  }
  wordsTotal += words.length;
  sentences.push(words.join(' '));
}
let done = 0, checksum = 0;
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let t1 = t0;
while (ns && Number(t1 - t0) < seconds * 1e9) {
  for (const s of sentences) checksum += score(s);
  done += sentences.length;
  t1 = process.hrtime.bigint();
}
const secs = Number(t1 - t0) / 1e9;
const cu = process.cpuUsage(c0);
const cpu = (cu.user + cu.system) / 1e6; // the whole process (V8's helper threads included)
console.log(JSON.stringify({
  analyzer: ref.name + ' (npm, node ' + process.version + ')',
  datasets,
  speed: {sentences: done, seconds: +secs.toFixed(3), cpu_seconds: +cpu.toFixed(3),
          avg_words: +(wordsTotal / ns).toFixed(1), sentences_per_second: Math.round(done / secs),
          sentences_per_cpu_second: Math.round(done / cpu), checksum: +checksum.toFixed(3)},
}, null, 1));
