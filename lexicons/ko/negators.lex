# lexicons/ko/negators.lex - Korean negators: the prefixes 안 and 못 negate up to three words after them; the auxiliaries 않다 and 못하다 (after -지), 없다 and 아니다 negate what comes right before them (suffix).
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words, tokenized like chat text; a predicate is written in its
# dictionary form (늦다, 환불하다), which the Korean reducer turns into the stem every
# inflected form of it reduces to (늦어서, 환불해주세요); nouns and adverbs are written bare.
# value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it another
# meaning: negator (multiplier in [-2, 2]; with "suffix" it negates what comes before it),
# booster / dampener (amount in [0, 2]), contrast (weight after the word, in [1, 2]). flags
# is a comma list of: negator, modal, suffix, booster, dampener, contrast, churn, human, hard,
# nostem, idiom. Blank lines and lines starting with # are ignored; a term twice in one file
# is an error. Files are layered in the order of the language table
# (src/sentiment/language.c): a later file overrides the valence of an earlier term.
# Written for churnd from the authors' knowledge of Korean; no third-party lexicon.

안	-0.74	negator
못	-0.74	negator,modal
않다	-0.74	negator,suffix
못하다	-0.74	negator,suffix,modal
없다	-0.74	negator,suffix
아니다	-0.74	negator,suffix
아닌	-0.74	negator,suffix
# the prefix negator with a light verb, written after the noun it negates (해지 안 할게요:
# not cancelling; 환불 안 돼요: the refund does not go through, still wanted, hence modal)
안 하다	-0.74	negator,suffix
안 되다	-0.74	negator,suffix,modal
못 하다	-0.74	negator,suffix,modal
못 되다	-0.74	negator,suffix,modal
# "X 말고 (Y)": X is set aside, not wanted (해지 말고 일시정지: no cancellation; 복붙 답변 말고:
# not copy-paste answers). Value 1: it takes the intent from X without flipping X's valence
# (the customer still dislikes copy-paste answers). Surface form only: 말 is also a noun.
말고	1.0	negator,suffix,nostem
말구	1.0	negator,suffix,nostem
