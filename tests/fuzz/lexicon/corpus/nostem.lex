care	2
careful	-1	nostem
kind of	0.293	dampener
