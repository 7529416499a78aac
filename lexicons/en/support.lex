# lexicons/en/support.lex - the support-domain lexicon, written for churnd: what customers in
# support chats say when things go wrong or right, and corrections of general-English valences
# that mislead in support ("please", "help" and "support" are requests, not praise).
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

# corrections of general-English valences
please	0.1
help	0.3
helped	1.5
helpful	1.9
support	0
customer support	0
customer service	0
customer care	0
credit	0.2
credit card	0
free	0.8
would like	0
i'd like	0
like to	0.2
yes	0.8
sure	0.6
hope	0.6
joke	-1.0
interest	0.3
care	1.5
matter	0
question	0
questions	0
charge	-0.3
charged	-0.6
account	0
fix	0.3
fixed	1.6
works	0.8
working	0.5
kindly	0.2
need help	0
smooth	1.5
late	-1.0
# waiting, repetition, being ignored
still waiting	-2.0
still no	-1.4
still not	-1.2
still nothing	-1.8
been waiting	-1.6
keep waiting	-1.8
waiting for hours	-2.4
waiting for days	-2.4
waiting for weeks	-2.6
waited for hours	-2.4
waited for days	-2.4
hours on hold	-2.2
on hold	-1.2
second time	-1.0
third time	-1.8
fourth time	-2.2
fifth time	-2.4
again and again	-1.8
over and over	-1.8
every single time	-1.6
keeps happening	-1.8
same issue	-1.2
same problem	-1.4
no one answers	-2.2
nobody answers	-2.2
no one responds	-2.2
nobody responds	-2.2
no one responded	-2.0
nobody responded	-2.0
no one replied	-2.0
nobody replied	-2.0
no one called	-1.8
nobody called	-1.8
no one can help	-2.2
nobody can help	-2.2
no response	-1.8
no reply	-1.6
no answer	-1.6
never got a reply	-2.2
never heard back	-2.0
ignored	-1.8
ignoring me	-2.2
transferred again	-1.8
keep transferring me	-2.2
passed around	-1.8
# things that do not work
nightmare	-2.5
gone downhill	-2.0
downhill	-1.2
flicker	-1.2
flickers	-1.2
flickering	-1.2
not working	-1.9
still not working	-2.4
doesn't work	-1.9
does not work	-1.9
didn't work	-1.6
stopped working	-2.0
keeps crashing	-2.4
crashing	-1.8
crashes	-1.6
froze	-1.4
freezes	-1.6
not loading	-1.6
won't load	-1.8
won't let me	-1.5
can't log in	-1.6
cannot log in	-1.6
can't login	-1.6
locked out	-1.8
still broken	-2.4
not fixed	-1.8
still not fixed	-2.4
not resolved	-1.8
unresolved	-1.6
still unresolved	-2.2
buggy	-1.6
glitchy	-1.6
glitch	-1.0
laggy	-1.4
unusable	-2.6
slow	-1.0
too slow	-1.6
outage	-1.8
down again	-1.8
lost my data	-2.6
error message	-1.0
# money
extra fee	-1.0
extra charge	-1.0
without notice	-1.2
without any notice	-1.2
price went up	-1.2
prices went up	-1.2
waste of money	-2.8
waste of time	-2.6
charged twice	-2.2
double charged	-2.2
overcharged	-2.2
hidden fees	-2.0
hidden fee	-2.0
unauthorized charge	-2.5
want a refund	-1.4
want my money back	-1.8
money back	-0.8
too expensive	-1.4
overpriced	-1.8
price increase	-1.0
# orders and deliveries
never showed up	-1.8
didn't receive	-1.6
did not receive	-1.6
haven't received	-1.6
have not received	-1.6
never arrived	-2.2
never received	-2.0
not received	-1.8
hasn't arrived	-1.6
still hasn't arrived	-2.2
wrong item	-1.8
wrong order	-1.8
missing item	-1.5
arrived damaged	-2.0
arrived broken	-2.2
late again	-1.8
# how they were treated
never reply	-2.0
never replied	-2.0
never answer	-2.0
never answers	-2.0
never responds	-2.0
wasn't told	-1.2
not told	-1.2
repeat myself	-1.6
thank you for nothing	-2.2
thanks for nothing	-2.2
lied to me	-2.6
you lied	-2.6
rude	-2.0
unprofessional	-2.0
incompetent	-2.4
useless	-2.0
no help	-1.8
not helpful	-1.8
unhelpful	-1.8
file a complaint	-2.0
# good outcomes
resolved quickly	2.4
fixed quickly	2.4
sorted quickly	2.2
quick response	2.0
fast response	2.0
quick reply	1.8
quick fix	1.8
works now	1.8
working now	1.8
works perfectly	2.8
works fine	1.6
works great	2.8
problem solved	2.2
issue resolved	2.0
problem resolved	2.0
all sorted	1.8
sorted it	1.6
all good	1.8
that fixed it	2.2
that worked	2.0
it worked	1.6
thanks for your help	2.4
thank you so much	2.6
really appreciate	2.4
lifesaver	2.6
life saver	2.6
easy to use	2.0
user friendly	1.8
on time	1.0
arrived early	1.5
as described	1.0
exactly what i needed	2.2
