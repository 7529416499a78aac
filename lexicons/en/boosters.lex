# lexicons/en/boosters.lex - degree adverbs that raise the magnitude of the next valenced
# term (VADER's booster list, amount 0.293, scaled 1 / 0.95 / 0.9 by distance).
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

absolutely	0.293	booster
amazingly	0.293	booster
awfully	0.293	booster
completely	0.293	booster
considerably	0.293	booster
decidedly	0.293	booster
deeply	0.293	booster
effing	0.293	booster
enormously	0.293	booster
entirely	0.293	booster
especially	0.293	booster
exceptionally	0.293	booster
extremely	0.293	booster
fabulously	0.293	booster
flipping	0.293	booster
flippin	0.293	booster
fricking	0.293	booster
frickin	0.293	booster
frigging	0.293	booster
friggin	0.293	booster
fully	0.293	booster
fucking	0.293	booster
greatly	0.293	booster
hella	0.293	booster
highly	0.293	booster
hugely	0.293	booster
incredibly	0.293	booster
intensely	0.293	booster
majorly	0.293	booster
more	0.293	booster
most	0.293	booster
particularly	0.293	booster
purely	0.293	booster
quite	0.293	booster
really	0.293	booster
remarkably	0.293	booster
so	0.293	booster
substantially	0.293	booster
thoroughly	0.293	booster
totally	0.293	booster
tremendously	0.293	booster
uber	0.293	booster
unbelievably	0.293	booster
unusually	0.293	booster
utterly	0.293	booster
very	0.293	booster
super	0.293	booster
seriously	0.293	booster
pretty	0.293	booster
literally	0.293	booster
insanely	0.293	booster
ridiculously	0.293	booster
