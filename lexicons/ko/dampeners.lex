# lexicons/ko/dampeners.lex - Korean degree adverbs that lower the magnitude of the next valenced term.
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

좀	0.293	dampener
쫌	0.293	dampener
조금	0.293	dampener
쪼금	0.293	dampener
약간	0.293	dampener
살짝	0.293	dampener
다소	0.293	dampener
그나마	0.293	dampener
나름	0.2	dampener
어느 정도	0.2	dampener
그럭저럭	0.293	dampener
거의	0.2	dampener
대충	0.2	dampener
