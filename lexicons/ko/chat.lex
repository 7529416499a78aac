# lexicons/ko/chat.lex - Korean chat conventions: laughter, crying and annoyance written in jamo (ㅋㅋ, ㅎㅎ, ㅠㅠ, ㅜㅜ, ㅡㅡ; any run of them reduces to these), chat abbreviations and interjections.
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

ㅋㅋ	0.8
ㅎㅎ	1.0
ㅠㅠ	-1.5
ㅜㅜ	-1.5
ㅡㅡ	-1.8
ㄷㄷ	-0.6
ㅇㅋ	0
ㄱㅅ	1.2
ㄳ	1.2
ㅈㅅ	-0.3
ㄴㄴ	-0.5
ㅗ	-3.0
헐	-1.2
허걱	-1.0
아놔	-1.8
아오	-1.5
에휴	-1.5
휴	-0.8
하아	-1.0
아이고	-1.0
와우	1.5
대박	1.8
굿	1.9
짱	2.2
존맛	2.0
오예	1.8
앗싸	1.8
ㄹㅇ	0
ㅇㅇ	0
넹	0.3
네네	0.2
감사감사	1.5
