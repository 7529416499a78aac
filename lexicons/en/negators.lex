# lexicons/en/negators.lex - negators: words that flip the valence of a term up to three
# words after them (VADER multiplier -0.74). "modal" negators of ability ("can't") leave
# intent phrases alone: "I can't cancel my subscription" is still churn intent.
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

aint	-0.74	negator
arent	-0.74	negator
darent	-0.74	negator
didnt	-0.74	negator
doesnt	-0.74	negator
ain't	-0.74	negator
aren't	-0.74	negator
daren't	-0.74	negator
didn't	-0.74	negator
doesn't	-0.74	negator
dont	-0.74	negator
hadnt	-0.74	negator
hasnt	-0.74	negator
havent	-0.74	negator
isnt	-0.74	negator
mightnt	-0.74	negator
mustnt	-0.74	negator
neither	-0.74	negator
don't	-0.74	negator
hadn't	-0.74	negator
hasn't	-0.74	negator
haven't	-0.74	negator
isn't	-0.74	negator
mightn't	-0.74	negator
mustn't	-0.74	negator
neednt	-0.74	negator
needn't	-0.74	negator
never	-0.74	negator
none	-0.74	negator
nope	-0.74	negator
nor	-0.74	negator
not	-0.74	negator
nothing	-0.74	negator
nowhere	-0.74	negator
oughtnt	-0.74	negator
shant	-0.74	negator
shouldnt	-0.74	negator
uhuh	-0.74	negator
wasnt	-0.74	negator
werent	-0.74	negator
oughtn't	-0.74	negator
shan't	-0.74	negator
shouldn't	-0.74	negator
uh-uh	-0.74	negator
wasn't	-0.74	negator
weren't	-0.74	negator
without	-0.74	negator
wont	-0.74	negator
wouldnt	-0.74	negator
won't	-0.74	negator
wouldn't	-0.74	negator
rarely	-0.74	negator
seldom	-0.74	negator
despite	-0.74	negator
least	-0.74	negator
cannot	-0.74	negator,modal
cant	-0.74	negator,modal
can't	-0.74	negator,modal
couldnt	-0.74	negator,modal
couldn't	-0.74	negator,modal
unable	-0.74	negator,modal

# "least" negates, except in "at least" and "very least": those are neutral phrases.
at least	0
very least	0
no need to	-0.74	negator
