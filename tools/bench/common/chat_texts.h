/*
 * tools/bench/common/chat_texts.h - the support-chat sentences the load generators send as turns
 * (loadgen and cqload), so that their figures describe the same traffic: two neutral
 * requests, one thanks, three complaints of rising intensity. Header only.
 */
#ifndef CHURN_TOOLS_CHAT_TEXTS_H
#define CHURN_TOOLS_CHAT_TEXTS_H

static const char *const bench_chat_texts[] = {
    "Hi, I have a question about my invoice.",
    "This is the third time I ask and I am still waiting for an answer!",
    "Thanks, that was resolved quickly, great support.",
    "The app keeps crashing when I upload photos, really frustrating.",
    "Can you check why my order was cancelled?",
    "I am not happy with the service lately, it got so slow.",
};

#define BENCH_N_CHAT_TEXTS (sizeof(bench_chat_texts) / sizeof(bench_chat_texts[0]))

#endif
