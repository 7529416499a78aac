# lexicons/en/idioms.lex - idioms whose meaning is not the sum of their words; a phrase match
# replaces the valence of the words inside it (VADER's special-case idioms and more).
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

the shit	3	idiom
the bomb	3	idiom
bad ass	1.5	idiom
badass	1.5	idiom
yeah right	-2	idiom
cut the mustard	2	idiom
kiss of death	-1.5	idiom
hand to mouth	-2	idiom
no problem	1.2	idiom
no problems	1.2	idiom
no worries	1.5	idiom
no issues	1.2	idiom
no complaints	1.5	idiom
not a problem	1.2	idiom
works like a charm	2.8	idiom
worked like a charm	2.8	idiom
over the moon	2.8	idiom
piece of cake	1.8	idiom
the last straw	-2.6	idiom
last straw	-2.4	idiom
a joke	-1.8	idiom
rip off	-2.5	idiom
ripped off	-2.6	idiom
ripoff	-2.5	idiom
sick of	-2.3	idiom
sick and tired	-2.8	idiom
fed up	-2.3	idiom
had enough	-2.0	idiom
went above and beyond	3.0	idiom
above and beyond	2.8	idiom
spot on	2.0	idiom
hats off	2.0	idiom
beyond frustrated	-3.0	idiom
at my wits end	-2.8	idiom
at my wit's end	-2.8	idiom
pain in the neck	-2.0	idiom
fell through the cracks	-1.8	idiom
give me the runaround	-2.4	idiom
the runaround	-2.2	idiom
run around	-1.2	idiom
going in circles	-2.0	idiom
back and forth	-1.0	idiom
not rocket science	-1.0	idiom
