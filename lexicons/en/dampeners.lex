# lexicons/en/dampeners.lex - degree adverbs that lower the magnitude of the next valenced
# term (VADER's dampeners, amount 0.293).
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

almost	0.293	dampener
barely	0.293	dampener
hardly	0.293	dampener
just enough	0.293	dampener
kind of	0.293	dampener
kinda	0.293	dampener
kindof	0.293	dampener
kind-of	0.293	dampener
less	0.293	dampener
little	0.293	dampener
marginally	0.293	dampener
occasionally	0.293	dampener
partly	0.293	dampener
scarcely	0.293	dampener
slightly	0.293	dampener
somewhat	0.293	dampener
sort of	0.293	dampener
sorta	0.293	dampener
sortof	0.293	dampener
sort-of	0.293	dampener
a bit	0.293	dampener
a little	0.293	dampener
a little bit	0.293	dampener
fairly	0.293	dampener
