# lexicons/ko/contrast.lex - Korean contrast conjunctions: the valenced terms after them weigh more, those before them less (the contrastive endings -지만, -는데 attached to a word do the same; src/sentiment/analyze.c).
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

근데	1.5	contrast
그런데	1.5	contrast
하지만	1.5	contrast
그러나	1.5	contrast
그렇지만	1.5	contrast
그치만	1.5	contrast
그래도	1.3	contrast
다만	1.3	contrast
그런데도	1.5	contrast
반면	1.3	contrast
