# lexicons/en/intent.lex - phrases that escalate a conversation at once, written for churnd:
# churn intent ("churn"), requests for a human ("human") and hard triggers ("hard": chargebacks,
# legal threats, regulators, the press). A negator before an intent phrase ("I won't cancel my
# subscription") suppresses churn and human intent; modal negators ("can't") do not; hard
# triggers are never suppressed, so that a human always looks at them.
# Format (docs/SENTIMENT.md): one entry per line, "term<TAB>value[<TAB>flags]". A term is a
# word or a phrase of up to 8 words (tokenized like chat text: case folded, curly apostrophes
# straightened). value is a valence in [-4, 4] (VADER scale) unless a modifier flag gives it
# another meaning: negator (multiplier in [-2, 2]), booster / dampener (amount in [0, 2]),
# contrast (weight after the word, in [1, 2]; the words before weigh 2 - weight). flags is a
# comma list of: negator, modal, booster, dampener, contrast, churn, human, hard, nostem,
# idiom. Blank lines and lines starting with # are ignored; a term twice in one file is an
# error. Files are layered in the order of the language table (src/sentiment/language.c):
# a later file overrides the valence of a term defined earlier and adds its flags.

# churn intent
cancel my subscription	-1.5	churn
cancel the subscription	-1.4	churn
cancel subscription	-1.4	churn
cancel my account	-1.5	churn
cancel my plan	-1.4	churn
cancel my membership	-1.5	churn
cancel my service	-1.5	churn
cancel the service	-1.4	churn
cancel my contract	-1.5	churn
cancel everything	-1.8	churn
want to cancel	-1.3	churn
how do i cancel	-1.0	churn
how can i cancel	-1.0	churn
how to cancel	-1.0	churn
close my account	-1.5	churn
close the account	-1.4	churn
delete my account	-1.6	churn
terminate my account	-1.6	churn
terminate my contract	-1.6	churn
end my subscription	-1.4	churn
end my contract	-1.4	churn
stop my subscription	-1.3	churn
unsubscribe	-1.0	churn
switching to	-1.2	churn
switch to another	-1.2	churn
switch to a competitor	-1.8	churn
switching providers	-1.6	churn
switch providers	-1.6	churn
moving to a competitor	-1.8	churn
going to a competitor	-1.8	churn
go with a competitor	-1.8	churn
your competitor	-1.0	churn
not renewing	-1.5	churn
won't be renewing	-1.6	churn
will not renew	-1.5	churn
not be renewing	-1.6	churn
won't renew	-1.5	churn
not going to renew	-1.5	churn
i'm leaving	-1.5	churn
i am leaving	-1.5	churn
we are leaving	-1.5	churn
done with you	-2.0	churn
done with this company	-2.2	churn
never buying again	-2.5	churn
never ordering again	-2.5	churn
never using this again	-2.5	churn
take my business elsewhere	-2.0	churn
find another provider	-1.5	churn
looking for alternatives	-1.2	churn
stop using	-1.2	churn
port my number	-1.0	churn
# requests for a human
talk to a person	0	human
speak to a person	0	human
talk to a human	0	human
speak to a human	0	human
speak with a human	0	human
talk to someone	0	human
speak to someone	0	human
talk to an agent	0	human
speak to an agent	0	human
real person	0	human
real human	0	human
real agent	0	human
live agent	0	human
human agent	0	human
actual person	0	human
manager	-0.3	human
supervisor	-0.3	human
speak to a manager	-0.6	human
representative	0	human
not a bot	-0.5	human
are you a bot	-0.3	human
stop the bot	-0.8	human
call me back	0	human
escalate	-0.5	human
# hard triggers
chargeback	-2.0	hard
charge back	-2.0	hard
dispute the charge	-1.8	hard
dispute with my bank	-1.8	hard
contact my bank	-1.2	hard
lawyer	-1.5	hard
attorney	-1.5	hard
legal action	-2.2	hard
sue you	-2.4	hard
sue your company	-2.4	hard
sue them	-2.2	hard
going to sue	-2.2	hard
suing you	-2.4	hard
small claims	-1.8	hard
class action	-2.2	hard
report you	-2.0	hard
better business bureau	-2.0	hard
bbb	-1.5	hard
consumer protection	-1.5	hard
trading standards	-1.5	hard
ombudsman	-1.5	hard
data protection	-1.0	hard
go to the press	-2.0	hard
fraud	-2.8	hard

# hedged or indirect churn intent (issue 17): considering leaving, maybe switching, doubts
# about renewing, a competitor held up, a downgrade. Still churn intent, said tentatively: the
# result's intent_confidence is 0.6 instead of 1 and the escalation's confidence lower.
thinking about cancelling	-0.9	churn,hedged
thinking of cancelling	-0.9	churn,hedged
thinking about switching	-0.9	churn,hedged
thinking of switching	-0.9	churn,hedged
thinking about leaving	-0.9	churn,hedged
thinking of leaving	-0.9	churn,hedged
considering cancelling	-0.9	churn,hedged
considering switching	-0.9	churn,hedged
considering leaving	-0.9	churn,hedged
considering other options	-0.8	churn,hedged
might cancel	-0.8	churn,hedged
might switch	-0.8	churn,hedged
might leave	-0.8	churn,hedged
may cancel	-0.8	churn,hedged
may switch	-0.8	churn,hedged
not sure i'll renew	-0.9	churn,hedged
not sure i will renew	-0.9	churn,hedged
not sure about renewing	-0.9	churn,hedged
not sure if i'll renew	-0.9	churn,hedged
not sure whether to renew	-0.9	churn,hedged
on the fence about renewing	-0.9	churn,hedged
reconsidering my subscription	-0.9	churn,hedged
looking at other providers	-0.8	churn,hedged
looking at alternatives	-0.8	churn,hedged
shopping around	-0.6	churn,hedged
cheaper elsewhere	-0.8	churn,hedged
better deal elsewhere	-0.8	churn,hedged
competitor is cheaper	-0.8	churn,hedged
competitors are cheaper	-0.8	churn,hedged
competitor offers more	-0.8	churn,hedged
downgrade	-0.5	churn,hedged
downgrading	-0.5	churn,hedged
cheaper plan	-0.4	churn,hedged
free plan	-0.3	churn,hedged
