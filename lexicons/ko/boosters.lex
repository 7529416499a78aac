# lexicons/ko/boosters.lex - Korean degree adverbs that raise the magnitude of the next valenced term (VADER's booster step 0.293; slang and repetition a little more).
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

너무	0.293	booster
너무너무	0.4	booster
넘	0.293	booster
정말	0.293	booster
정말로	0.293	booster
진짜	0.293	booster
진짜로	0.293	booster
찐	0.293	booster
완전	0.293	booster
엄청	0.293	booster
엄청나게	0.293	booster
매우	0.293	booster
아주	0.293	booster
되게	0.293	booster
디게	0.293	booster
많이	0.2	booster
굉장히	0.293	booster
몹시	0.293	booster
심하게	0.293	booster
극도로	0.35	booster
상당히	0.25	booster
무척	0.293	booster
대단히	0.293	booster
겁나	0.35	booster
존나	0.4	booster
졸라	0.4	booster
개	0.35	booster
핵	0.35	booster
진심	0.293	booster
참	0.2	booster
제일	0.25	booster
가장	0.25	booster
훨씬	0.25	booster
더	0.15	booster
더욱	0.2	booster
계속	0.2	booster
자꾸	0.25	booster
맨날	0.25	booster
또	0.2	booster
전혀	0.293	booster
절대	0.293	booster
절대로	0.293	booster
도저히	0.293	booster
정말정말	0.4	booster
# second session of issue 17: "what on earth"
도대체	0.293	booster
# sixth session of issue 17: "(not) a single one / in the least", said only before a negator
# (해결은 하나도 안 됐네요, 조금도 나아지지 않았어요); as boosters they raise the negated
# term and a suffix negator reaches back over them
하나도	0.293	booster
조금도	0.293	booster
전혀요	0.293	booster
