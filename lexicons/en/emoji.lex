# lexicons/en/emoji.lex - emoji valences, written for churnd (the VADER lexicon shipped by
# vader-sentiment has emoticons but no emoji). An emoji token is keyed by its base
# pictograph: skin tones, variation selectors and ZWJ continuations are not part of the key.
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

😀	2.2
😃	2.2
😄	2.3
😁	2.2
😆	2.0
😅	0.6
😂	1.6
🤣	1.8
🙂	1.2
😊	2.2
😇	2.0
😍	3.0
🥰	3.0
😘	2.3
😉	1.3
😎	1.6
🤩	2.8
🥳	2.6
🤗	2.0
🤔	-0.3
😐	-0.4
😑	-0.8
😶	-0.5
😒	-1.8
🙄	-1.7
😏	0.3
😔	-1.8
😞	-2.0
😟	-1.8
😕	-1.3
🙁	-1.6
☹	-1.8
😣	-2.0
😖	-2.2
😫	-2.3
😩	-2.3
😢	-2.2
😭	-2.4
😤	-2.3
😠	-2.7
😡	-3.0
🤬	-3.3
😱	-2.0
😨	-2.0
😰	-2.1
😥	-1.6
😓	-1.4
🤯	-1.5
🥺	-0.8
😴	-0.7
🥱	-0.8
🤮	-2.8
🤢	-2.4
💩	-2.0
🤡	-1.8
🖕	-3.0
😬	-1.0
💀	-0.6
👍	1.8
👎	-1.8
👏	2.0
🙏	1.4
💪	1.6
🎉	2.5
❤	2.8
💕	2.6
💖	2.7
💔	-2.6
💯	2.0
✅	1.2
❌	-1.5
⭐	1.6
🌟	1.8
👌	1.6
🤝	1.4
🔥	1.0
⚠	-1.0
🆘	-1.8
😈	-0.5
