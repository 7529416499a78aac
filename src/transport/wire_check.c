/*
 * wire_check.c - the edge check of every request message, on its wire bytes: every string
 * field obeys churn/ident.h's rule (valid UTF-8 and no NUL byte; identifiers, the fields named
 * "*_id" or "*_ids", also 1..128 bytes without control characters) and every enum field holds
 * a value its enum defines. It reads the bytes rather than the decoded message because
 * protobuf-c NUL-terminates strings and keeps unknown enum numbers: after decoding,
 * "victim\0attacker" reads as "victim" and status 99 as a number nobody checks. Each fault
 * names the top-level field (and which of its repeated values) it sits in, so a handler can
 * turn it into a per-item error and keep the good items.
 */
#include <stdio.h>
#include <string.h>

#include "churn/ident.h"
#include "churn/utf8.h"
#include "internal.h"

#define WIRE_MAX_DEPTH 32

struct wire_scan {
    struct churn_arena *arena;
    struct churn_rpc_fault *faults;
    size_t n, cap;
    bool overflow;
    /* where the scan is: the top-level field and value, and the path below it */
    const ProtobufCFieldDescriptor *top;
    size_t top_index;
    char path[sizeof(((struct churn_rpc_fault *)0)->path)];
};

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/*
 * Record a fault for the current top-level value (the first one per value is enough).
 * Return: true when it was recorded as the last fault.
 */
static bool
add_fault(struct wire_scan *ws, const char *what)
{
    if (ws->n && ws->faults[ws->n - 1].field == ws->top->id &&
        ws->faults[ws->n - 1].index == ws->top_index)
        return false;
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 8;
        struct churn_rpc_fault *f = churn_arena_alloc(ws->arena, cap * sizeof(*f));
        if (!f) {
            ws->overflow = true;
            return false;
        }
        if (ws->n)
            memcpy(f, ws->faults, ws->n * sizeof(*f));
        ws->faults = f;
        ws->cap = cap;
    }
    struct churn_rpc_fault *f = &ws->faults[ws->n++];
    f->field = ws->top->id;
    f->field_name = ws->top->name;
    f->repeated = ws->top->label == PROTOBUF_C_LABEL_REPEATED;
    f->index = ws->top_index;
    f->err = CHURN_EINVAL;
    f->no_echo = false;
    snprintf(f->path, sizeof(f->path), "%s", ws->path);
    snprintf(f->what, sizeof(f->what), "%s", what);
    return true;
}

static void
check_string(struct wire_scan *ws, const ProtobufCFieldDescriptor *fd, const uint8_t *s, size_t len)
{
    char reason[sizeof(((struct churn_rpc_fault *)0)->what) + 64];
    enum churn_err err;
    if (churn_ident_field_is_id(fd->name))
        err = churn_ident_check_optional((const char *)s, len, "", reason, sizeof(reason));
    else
        err = churn_ident_check_text((const char *)s, len, 0, "", reason, sizeof(reason));
    if (err && add_fault(ws, reason + 2)) /* past the empty field name's ": " */
        ws->faults[ws->n - 1].no_echo =
            memchr(s, '\0', len) || !churn_utf8_valid((const char *)s, len, NULL);
}

static void
check_enum(struct wire_scan *ws, const ProtobufCFieldDescriptor *fd, uint64_t raw)
{
    int32_t v = (int32_t)(uint32_t)raw;
    if (protobuf_c_enum_descriptor_get_value(fd->descriptor, v))
        return;
    char what[96];
    snprintf(what, sizeof(what), "%d is not a %s value", (int)v,
             ((const ProtobufCEnumDescriptor *)fd->descriptor)->short_name);
    add_fault(ws, what);
}

/* Packed repeated enum: a run of varints. */
static void
check_packed_enum(struct wire_scan *ws, const ProtobufCFieldDescriptor *fd, const uint8_t *p,
                  const uint8_t *end)
{
    uint64_t v;
    while (p < end && read_varint(&p, end, &v))
        check_enum(ws, fd, v);
}

static bool scan_message(struct wire_scan *ws, const ProtobufCMessageDescriptor *d,
                         const uint8_t *p, const uint8_t *end, int depth);

/* One length-delimited value of field @fd. */
static void
scan_delimited(struct wire_scan *ws, const ProtobufCFieldDescriptor *fd, const uint8_t *p,
               size_t len, int depth)
{
    size_t saved = strlen(ws->path);
    if (depth > 0)
        snprintf(ws->path + saved, sizeof(ws->path) - saved, "%s%s", saved ? "." : "", fd->name);
    if (fd->type == PROTOBUF_C_TYPE_STRING)
        check_string(ws, fd, p, len);
    else if (fd->type == PROTOBUF_C_TYPE_ENUM)
        check_packed_enum(ws, fd, p, p + len);
    else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && depth < WIRE_MAX_DEPTH)
        scan_message(ws, fd->descriptor, p, p + len, depth + 1);
    ws->path[saved] = '\0';
}

/* Skip one value of wire type @wt; false when the bytes are malformed. */
static bool
skip_value(unsigned wt, const uint8_t **p, const uint8_t *end)
{
    uint64_t v;
    size_t n = wt == 1 ? 8 : 4;
    switch (wt) {
    case 0:
        return read_varint(p, end, &v);
    case 1:
    case 5:
        if ((size_t)(end - *p) < n)
            return false;
        *p += n;
        return true;
    default:
        return false;
    }
}

static bool
scan_message(struct wire_scan *ws, const ProtobufCMessageDescriptor *d, const uint8_t *p,
             const uint8_t *end, int depth)
{
    size_t *seen = NULL; /* top level: values seen per field, for the fault's index */
    if (depth == 0 && !(seen = churn_arena_zalloc(ws->arena, (d->n_fields + 1) * sizeof(*seen))))
        return false;
    while (p < end) {
        uint64_t key, len;
        if (!read_varint(&p, end, &key))
            return false;
        unsigned wt = key & 7;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        if (fd && depth == 0) {
            ws->top = fd;
            ws->top_index = seen[fd - d->fields]++;
            if (fd->label != PROTOBUF_C_LABEL_REPEATED)
                ws->top_index = 0;
        }
        if (wt == 2) {
            if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p))
                return false;
            if (fd)
                scan_delimited(ws, fd, p, (size_t)len, depth);
            p += len;
            continue;
        }
        const uint8_t *start = p;
        if (!skip_value(wt, &p, end))
            return false;
        if (fd && wt == 0 && fd->type == PROTOBUF_C_TYPE_ENUM) {
            uint64_t v = 0;
            read_varint(&start, end, &v);
            size_t saved = strlen(ws->path);
            if (depth > 0)
                snprintf(ws->path + saved, sizeof(ws->path) - saved, "%s%s", saved ? "." : "",
                         fd->name);
            check_enum(ws, fd, v);
            ws->path[saved] = '\0';
        }
    }
    return true;
}

enum churn_err
churn__wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  struct churn_arena *arena, struct churn_rpc_fault **faults, size_t *n_faults)
{
    struct wire_scan ws = {.arena = arena};
    bool ok = scan_message(&ws, d, data, data + len, 0);
    *faults = ws.faults;
    *n_faults = ws.n;
    if (!ok)
        return CHURN_EINVAL;
    return ws.overflow ? CHURN_ENOMEM : CHURN_OK;
}
