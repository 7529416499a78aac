/*
 * sentiment/tracker.c - the conversation tracker: decayed dissatisfaction, negative streaks,
 * escalation causes with hysteresis (each cause at most once per conversation) kept in the
 * order they escalated, and the compact versioned encoding of the state that the store keeps
 * under the conversation id. Pure: no I/O, no clock (the caller passes the turn time), no
 * allocation.
 */
#include "churn/sentiment_tracker.h"

#include <math.h>
#include <string.h>

#define NEGATIVE_AT (-0.05)
#define POSITIVE_AT 0.05

#define FLAG_CHURN 0x01
#define FLAG_HUMAN 0x02
#define FLAG_HARD  0x04
#define FLAGS_ALL  (FLAG_CHURN | FLAG_HUMAN | FLAG_HARD)
#define ESCALATED_ALL                                                                              \
    (CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HARD_TRIGGER) |                                       \
     CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_CHURN_INTENT) |                                       \
     CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HUMAN_REQUESTED) |                                    \
     CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_DISSATISFACTION))
#define N_REASONS 4

/* The causes in priority order: the first new one of a turn is its reason. */
static const enum churn_chat_reason priority[N_REASONS] = {
    CHURN_CHAT_REASON_HARD_TRIGGER, CHURN_CHAT_REASON_CHURN_INTENT,
    CHURN_CHAT_REASON_HUMAN_REQUESTED, CHURN_CHAT_REASON_DISSATISFACTION};

struct churn_chat_policy
churn_chat_policy_default(void)
{
    return (struct churn_chat_policy){
        .half_life_ms = 30 * 60 * 1000,
        .gain = 0.6,
        .relief = 0.5,
        .threshold = 0.6,
        .threshold_sensitive = 0.45,
        .negative_streak = 3,
        .negative_streak_sensitive = 2,
        .high_risk = 0.5,
    };
}

void
churn_chat_state_init(struct churn_chat_state *state)
{
    memset(state, 0, sizeof(*state));
}

static bool
policy_ok(const struct churn_chat_policy *p)
{
    return p->half_life_ms > 0 && isfinite(p->gain) && p->gain >= 0 && p->gain <= 1 &&
           isfinite(p->relief) && p->relief >= 0 && p->relief <= 1 && isfinite(p->threshold) &&
           p->threshold > 0 && p->threshold <= 1 && isfinite(p->threshold_sensitive) &&
           p->threshold_sensitive > 0 && p->threshold_sensitive <= 1 && p->negative_streak > 0 &&
           p->negative_streak_sensitive > 0 && isfinite(p->high_risk);
}

double
churn_chat_state_dissatisfaction_at(const struct churn_chat_state *state,
                                    const struct churn_chat_policy *policy, int64_t now_ms)
{
    struct churn_chat_policy def = churn_chat_policy_default();
    if (!policy || !policy_ok(policy))
        policy = &def;
    double d = state->dissatisfaction;
    if (state->last_customer_ms != 0 && now_ms > state->last_customer_ms) {
        double dt = (double)(now_ms - state->last_customer_ms);
        d *= exp2(-dt / (double)policy->half_life_ms);
    }
    return d;
}

/* The escalated causes of @st, first escalation first: those its order lists, then any other
 * (a state whose order was never kept) in priority order. Returns how many. */
static size_t
escalated_in_order(const struct churn_chat_state *st, enum churn_chat_reason out[N_REASONS])
{
    unsigned escalated = st->escalated & ESCALATED_ALL, seen = 0;
    size_t n = 0;
    for (size_t i = 0; i < N_REASONS && st->escalation_order[i]; i++) {
        unsigned r = st->escalation_order[i];
        if (r > CHURN_CHAT_REASON_DISSATISFACTION || !(escalated & CHURN_CHAT_REASON_BIT(r)) ||
            (seen & CHURN_CHAT_REASON_BIT(r)))
            continue;
        seen |= CHURN_CHAT_REASON_BIT(r);
        out[n++] = (enum churn_chat_reason)r;
    }
    for (size_t i = 0; i < N_REASONS; i++) {
        unsigned bit = CHURN_CHAT_REASON_BIT(priority[i]);
        if ((escalated & bit) && !(seen & bit))
            out[n++] = priority[i];
    }
    return n;
}

static void
set_order(struct churn_chat_state *st, const enum churn_chat_reason *order, size_t n)
{
    memset(st->escalation_order, 0, sizeof(st->escalation_order));
    for (size_t i = 0; i < n; i++)
        st->escalation_order[i] = (uint8_t)order[i];
}

size_t
churn_chat_state_reasons(const struct churn_chat_state *state, enum churn_chat_reason out[4])
{
    return escalated_in_order(state, out);
}

static uint32_t
inc32(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1;
}

enum churn_err
churn_chat_tracker_update(struct churn_chat_state *state, const struct churn_chat_policy *policy,
                          enum churn_chat_role role, const struct churn_sentiment_result *result,
                          const struct churn_chat_customer_hint *hint, int64_t now_ms,
                          struct churn_chat_decision *out)
{
    struct churn_chat_policy def = churn_chat_policy_default();
    if (!policy)
        policy = &def;
    if (!state || !out || !policy_ok(policy))
        return CHURN_EINVAL;
    if (role != CHURN_CHAT_ROLE_CUSTOMER && role != CHURN_CHAT_ROLE_AGENT &&
        role != CHURN_CHAT_ROLE_BOT)
        return CHURN_EINVAL;
    if (role == CHURN_CHAT_ROLE_CUSTOMER && (!result || !isfinite(result->compound)))
        return CHURN_EINVAL;

    struct churn_chat_state st = *state;
    bool sensitive = hint && (hint->high_value || (hint->churn_probability >= 0 &&
                                                   hint->churn_probability >= policy->high_risk));
    double threshold = sensitive ? policy->threshold_sensitive : policy->threshold;
    uint32_t streak = sensitive ? policy->negative_streak_sensitive : policy->negative_streak;
    struct churn_chat_decision d = {.threshold = threshold};

    st.turns = inc32(st.turns);
    st.last_turn_ms = now_ms;
    if (role != CHURN_CHAT_ROLE_CUSTOMER) {
        d.dissatisfaction = churn_chat_state_dissatisfaction_at(&st, policy, now_ms);
        *state = st;
        *out = d;
        return 0;
    }

    double dis = churn_chat_state_dissatisfaction_at(&st, policy, now_ms);
    double c = result->compound;
    if (c > 1)
        c = 1;
    if (c < -1)
        c = -1;
    if (c < 0)
        dis += (1.0 - dis) * policy->gain * -c;
    else if (c > 0)
        dis *= 1.0 - policy->relief * c;
    if (dis < 0)
        dis = 0;
    if (dis > 1)
        dis = 1;
    st.dissatisfaction = dis;
    st.customer_turns = inc32(st.customer_turns);
    st.last_customer_ms = now_ms;
    if (c <= NEGATIVE_AT)
        st.consecutive_negative = inc32(st.consecutive_negative);
    else if (c >= POSITIVE_AT)
        st.consecutive_negative = 0;
    if (result->churn_intent) {
        st.churn_intent = true;
        st.churn_intent_mentions = inc32(st.churn_intent_mentions);
    }
    st.human_requested |= result->human_requested;
    st.hard_trigger |= result->hard_trigger;

    unsigned causes = 0;
    if (result->hard_trigger)
        causes |= CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HARD_TRIGGER);
    if (result->churn_intent)
        causes |= CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_CHURN_INTENT);
    if (result->human_requested)
        causes |= CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HUMAN_REQUESTED);
    bool by_level = dis >= threshold;
    bool by_streak = st.consecutive_negative >= streak;
    if (by_level || by_streak)
        causes |= CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_DISSATISFACTION);

    unsigned fresh = causes & ~(unsigned)st.escalated;
    enum churn_chat_reason order[N_REASONS];
    size_t n_order = escalated_in_order(&st, order);
    for (size_t i = 0; i < N_REASONS; i++) {
        if (!(fresh & CHURN_CHAT_REASON_BIT(priority[i])))
            continue;
        if (!d.escalate) {
            d.escalate = true;
            d.reason = priority[i];
        }
        order[n_order++] = priority[i]; /* after every cause that escalated before */
    }
    set_order(&st, order, n_order);
    switch (d.reason) {
    case CHURN_CHAT_REASON_HARD_TRIGGER:
        d.confidence = 0.95;
        break;
    case CHURN_CHAT_REASON_CHURN_INTENT: /* lower when only hedged (issue 17) */
        d.confidence =
            result && result->intent_confidence > 0 ? 0.9 * result->intent_confidence : 0.9;
        break;
    case CHURN_CHAT_REASON_HUMAN_REQUESTED:
        d.confidence = 0.9;
        break;
    case CHURN_CHAT_REASON_DISSATISFACTION: {
        double lvl = by_level ? 0.5 + 0.5 * (dis - threshold) / (1.0 - threshold + 1e-9) : 0.0;
        double stk = by_streak ? 0.6 + 0.1 * (double)(st.consecutive_negative - streak) : 0.0;
        double conf = lvl > stk ? lvl : stk;
        d.confidence = conf > 0.95 ? 0.95 : conf;
        break;
    }
    default:
        d.confidence = 0.0;
        break;
    }
    st.escalated |= (uint8_t)fresh;
    d.new_causes = (uint8_t)fresh;
    d.dissatisfaction = dis;
    *state = st;
    *out = d;
    return 0;
}

const char *
churn_chat_reason_name(enum churn_chat_reason reason)
{
    switch (reason) {
    case CHURN_CHAT_REASON_NONE:
        return "NONE";
    case CHURN_CHAT_REASON_HARD_TRIGGER:
        return "HARD_TRIGGER";
    case CHURN_CHAT_REASON_CHURN_INTENT:
        return "CHURN_INTENT";
    case CHURN_CHAT_REASON_HUMAN_REQUESTED:
        return "HUMAN_REQUESTED";
    case CHURN_CHAT_REASON_DISSATISFACTION:
        return "DISSATISFACTION";
    }
    return "UNKNOWN";
}

/* ---- encoding: version, flags, escalated, [order,] u16 dissatisfaction, varints ----
 * Version 1 had no order byte. Version 2 adds it after the escalated mask: the escalated
 * causes in the order they escalated, 2 bits each (reason - 1) from the low bits up, the
 * bits past the last cause zero. */

#define VERSION_NO_ORDER 1

/* The order byte of @st. */
static uint8_t
order_byte(const struct churn_chat_state *st)
{
    enum churn_chat_reason order[N_REASONS];
    size_t n = escalated_in_order(st, order);
    unsigned b = 0;
    for (size_t i = 0; i < n; i++)
        b |= (unsigned)(order[i] - 1) << (2 * i);
    return (uint8_t)b;
}

/* Parse the order byte @b of the causes @esc into @st; false unless it lists each of them
 * exactly once and nothing else. */
static bool
parse_order(uint8_t b, uint8_t esc, struct churn_chat_state *st)
{
    enum churn_chat_reason order[N_REASONS];
    unsigned seen = 0;
    size_t n = 0;
    for (unsigned rest = esc; rest; rest &= rest - 1)
        n++;
    for (size_t i = 0; i < n; i++) {
        unsigned r = ((b >> (2 * i)) & 3) + 1;
        if (!(esc & CHURN_CHAT_REASON_BIT(r)) || (seen & CHURN_CHAT_REASON_BIT(r)))
            return false;
        seen |= CHURN_CHAT_REASON_BIT(r);
        order[i] = (enum churn_chat_reason)r;
    }
    if (n < N_REASONS && (b >> (2 * n)) != 0)
        return false;
    set_order(st, order, n);
    return true;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Read a varint of at most @max_bytes; false on truncation or overlong encoding. */
static bool
get_varint(const uint8_t *p, size_t len, size_t *pos, size_t max_bytes, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < max_bytes; i++) {
        if (*pos >= len)
            return false;
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false; /* non-minimal */
            *out = v;
            return true;
        }
    }
    return false;
}

enum churn_err
churn_chat_state_encode(const struct churn_chat_state *state, uint8_t *out, size_t cap,
                        size_t *out_len)
{
    uint8_t tmp[CHURN_CHAT_STATE_MAX_SIZE + 8];
    size_t n = 0;
    tmp[n++] = CHURN_CHAT_STATE_VERSION;
    tmp[n++] = (uint8_t)((state->churn_intent ? FLAG_CHURN : 0) |
                         (state->human_requested ? FLAG_HUMAN : 0) |
                         (state->hard_trigger ? FLAG_HARD : 0));
    tmp[n++] = (uint8_t)(state->escalated & ESCALATED_ALL);
    tmp[n++] = order_byte(state);
    double d = state->dissatisfaction;
    if (!(d >= 0))
        d = 0;
    if (d > 1)
        d = 1;
    unsigned q = (unsigned)lround(d * 65535.0);
    tmp[n++] = (uint8_t)(q & 0xff);
    tmp[n++] = (uint8_t)(q >> 8);
    n += put_varint(tmp + n, state->turns);
    n += put_varint(tmp + n, state->customer_turns);
    n += put_varint(tmp + n, state->consecutive_negative);
    n += put_varint(tmp + n, state->churn_intent_mentions);
    n += put_varint(tmp + n, zigzag(state->last_customer_ms));
    n += put_varint(tmp + n, zigzag(state->last_turn_ms));
    if (n > cap)
        return CHURN_ETOOBIG;
    memcpy(out, tmp, n);
    *out_len = n;
    return 0;
}

enum churn_err
churn_chat_state_decode(const uint8_t *data, size_t len, struct churn_chat_state *state)
{
    if (!data || len == 0)
        return CHURN_ECORRUPT;
    if (data[0] != CHURN_CHAT_STATE_VERSION && data[0] != VERSION_NO_ORDER)
        return CHURN_EUNIMPL;
    size_t pos = data[0] == VERSION_NO_ORDER ? 3 : 4; /* the dissatisfaction */
    if (len < pos + 2)
        return CHURN_ECORRUPT;
    struct churn_chat_state st;
    memset(&st, 0, sizeof(st));
    uint8_t flags = data[1], esc = data[2];
    if ((flags & ~FLAGS_ALL) || (esc & ~ESCALATED_ALL))
        return CHURN_ECORRUPT;
    st.churn_intent = flags & FLAG_CHURN;
    st.human_requested = flags & FLAG_HUMAN;
    st.hard_trigger = flags & FLAG_HARD;
    st.escalated = esc;
    if (data[0] == VERSION_NO_ORDER) {
        enum churn_chat_reason order[N_REASONS]; /* unknown: priority order */
        set_order(&st, order, escalated_in_order(&st, order));
    } else if (!parse_order(data[3], esc, &st)) {
        return CHURN_ECORRUPT;
    }
    st.dissatisfaction = (double)((unsigned)data[pos] | ((unsigned)data[pos + 1] << 8)) / 65535.0;
    pos += 2;
    uint64_t v[4], t[2];
    for (size_t i = 0; i < 4; i++)
        if (!get_varint(data, len, &pos, 5, &v[i]) || v[i] > UINT32_MAX)
            return CHURN_ECORRUPT;
    for (size_t i = 0; i < 2; i++)
        if (!get_varint(data, len, &pos, 10, &t[i]))
            return CHURN_ECORRUPT;
    if (pos != len)
        return CHURN_ECORRUPT;
    st.turns = (uint32_t)v[0];
    st.customer_turns = (uint32_t)v[1];
    st.consecutive_negative = (uint32_t)v[2];
    st.churn_intent_mentions = (uint32_t)v[3];
    st.last_customer_ms = unzigzag(t[0]);
    st.last_turn_ms = unzigzag(t[1]);
    if (st.customer_turns > st.turns || st.consecutive_negative > st.customer_turns ||
        st.churn_intent_mentions > st.customer_turns ||
        st.churn_intent != (st.churn_intent_mentions > 0))
        return CHURN_ECORRUPT;
    *state = st;
    return 0;
}
