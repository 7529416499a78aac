/*
 * pbjson.c - protobuf-c messages to and from JSON (jansson), driven by the generated
 * descriptors: field names are the proto (snake_case) names, enums are their value names,
 * bytes are base64, 64-bit integers are JSON numbers. Used by churnctl for `call` and for
 * every --json output. Decoding allocates in an arena and reports the path of a bad field.
 */
#include "churn/pbjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PBJSON_MAX_DEPTH 32

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *
base64_encode(const uint8_t *data, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = malloc(out_len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *s = json_string(out);
    free(out);
    return s;
}

static int
b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    if (p)
        return (int)(p - b64);
    if (c == '-')
        return 62; /* URL-safe alphabet too */
    if (c == '_')
        return 63;
    return -1;
}

static bool
base64_decode(struct churn_arena *arena, const char *s, ProtobufCBinaryData *out)
{
    size_t len = strlen(s);
    uint8_t *buf = churn_arena_alloc(arena, len / 4 * 3 + 3);
    if (!buf)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=')
            break;
        int v = b64_value(s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = buf;
    out->len = o;
    return true;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static json_t *message_to_json(const ProtobufCMessage *msg, int depth);

static json_t *
value_to_json(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT: {
        double d = *(const float *)p;
        return isfinite(d) ? json_real(d) : json_string(isnan(d) ? "NaN" : "Infinity");
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = *(const double *)p;
        return isfinite(d) ? json_real(d) : json_string(isnan(d) ? "NaN" : "Infinity");
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return ev ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return base64_encode(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? message_to_json(m, depth + 1) : json_null();
    }
    }
    return json_null();
}

static size_t
type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static bool
is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)p == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0;
    default: {
        static const uint8_t zero[8];
        return memcmp(p, zero, type_size(f->type)) == 0;
    }
    }
}

static json_t *
message_to_json(const ProtobufCMessage *msg, int depth)
{
    json_t *obj = json_object();
    if (!obj || depth > PBJSON_MAX_DEPTH)
        return obj;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)msg;
        const void *p = base + f->offset;
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (!n)
                continue;
            v = json_array();
            const char *arr = *(char *const *)p;
            for (size_t k = 0; k < n; k++)
                json_array_append_new(v, value_to_json(f, arr + k * type_size(f->type), depth));
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                    continue;
            } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                       f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
                if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                    continue;
            } else if (is_default(f, p)) {
                continue;
            }
            v = value_to_json(f, p, depth);
        }
        json_object_set_new(obj, f->name, v);
    }
    return obj;
}

json_t *
churn_pbjson_encode(const ProtobufCMessage *msg)
{
    return message_to_json(msg, 0);
}

char *
churn_pbjson_dumps(const ProtobufCMessage *msg, bool pretty)
{
    json_t *j = churn_pbjson_encode(msg);
    if (!j)
        return NULL;
    char *s = json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* ---- decoding ---------------------------------------------------------------------------- */

struct decoder {
    struct churn_arena *arena;
    char *errbuf;
    size_t errlen;
    char path[256];
};

static enum churn_err __attribute__((format(printf, 2, 3)))
dfail(struct decoder *dc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(dc->errbuf, dc->errlen, "%s%s%s", dc->path, *dc->path ? ": " : "", msg);
    return CHURN_EINVAL;
}

static enum churn_err decode_message(struct decoder *dc, const ProtobufCMessageDescriptor *d,
                                     json_t *obj, ProtobufCMessage **out, int depth);

static enum churn_err
decode_int(struct decoder *dc, json_t *v, double lo, double hi, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if ((double)i < lo || (double)i > hi)
            return dfail(dc, "%lld is out of range", (long long)i);
        *out = i;
        return CHURN_OK;
    }
    if (json_is_string(v)) {
        char *end;
        long long i = strtoll(json_string_value(v), &end, 10);
        if (*end || !*json_string_value(v) || (double)i < lo || (double)i > hi)
            return dfail(dc, "'%s' is not an integer in range", json_string_value(v));
        *out = i;
        return CHURN_OK;
    }
    return dfail(dc, "expected an integer");
}

static enum churn_err
decode_value(struct decoder *dc, const ProtobufCFieldDescriptor *f, json_t *v, void *p, int depth)
{
    int64_t i = 0;
    enum churn_err err;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((err = decode_int(dc, v, INT32_MIN, INT32_MAX, &i)))
            return err;
        *(int32_t *)p = (int32_t)i;
        return CHURN_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((err = decode_int(dc, v, 0, UINT32_MAX, &i)))
            return err;
        *(uint32_t *)p = (uint32_t)i;
        return CHURN_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((err = decode_int(dc, v, -9.3e18, 9.3e18, &i)))
            return err;
        *(int64_t *)p = i;
        return CHURN_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((err = decode_int(dc, v, 0, 9.3e18, &i)))
            return err;
        *(uint64_t *)p = (uint64_t)i;
        return CHURN_OK;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0)
            d = NAN;
        else
            return dfail(dc, "expected a number");
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)d;
        else
            *(double *)p = d;
        return CHURN_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return dfail(dc, "expected true or false");
        *(protobuf_c_boolean *)p = json_is_true(v);
        return CHURN_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else if (json_is_integer(v))
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
        if (!ev)
            return dfail(dc, "not a value of %s", ed->name);
        *(int *)p = ev->value;
        return CHURN_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return dfail(dc, "expected a string");
        char *s = churn_arena_strndup(dc->arena, json_string_value(v), json_string_length(v));
        if (!s)
            return CHURN_ENOMEM;
        *(char **)p = s;
        return CHURN_OK;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(v) || !base64_decode(dc->arena, json_string_value(v), p))
            return dfail(dc, "expected base64 text");
        return CHURN_OK;
    case PROTOBUF_C_TYPE_MESSAGE:
        return decode_message(dc, f->descriptor, v, (ProtobufCMessage **)p, depth + 1);
    }
    return dfail(dc, "unsupported field type");
}

static enum churn_err
decode_field(struct decoder *dc, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
             json_t *v, int depth)
{
    char *base = (char *)msg;
    void *p = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return dfail(dc, "expected an array");
        size_t n = json_array_size(v);
        size_t sz = type_size(f->type);
        char *arr = churn_arena_zalloc(dc->arena, n * sz);
        if (!arr)
            return CHURN_ENOMEM;
        size_t plen = strlen(dc->path);
        for (size_t k = 0; k < n; k++) {
            snprintf(dc->path + plen, sizeof(dc->path) - plen, "[%zu]", k);
            enum churn_err err = decode_value(dc, f, json_array_get(v, k), arr + k * sz, depth);
            if (err)
                return err;
        }
        dc->path[plen] = '\0';
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)p = arr;
        return CHURN_OK;
    }
    enum churn_err err = decode_value(dc, f, v, p, depth);
    if (err)
        return err;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
             f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return CHURN_OK;
}

static enum churn_err
decode_message(struct decoder *dc, const ProtobufCMessageDescriptor *d, json_t *obj,
               ProtobufCMessage **out, int depth)
{
    if (depth > PBJSON_MAX_DEPTH)
        return dfail(dc, "nested too deeply");
    if (!json_is_object(obj))
        return dfail(dc, "expected an object for %s", d->name);
    ProtobufCMessage *msg = churn_arena_zalloc(dc->arena, d->sizeof_message);
    if (!msg)
        return CHURN_ENOMEM;
    d->message_init(msg);
    const char *key;
    json_t *v;
    size_t plen = strlen(dc->path);
    json_object_foreach(obj, key, v)
    {
        snprintf(dc->path + plen, sizeof(dc->path) - plen, "%s%s", plen ? "." : "", key);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (!f)
            return dfail(dc, "no such field in %s", d->name);
        if (json_is_null(v))
            continue;
        enum churn_err err = decode_field(dc, msg, f, v, depth);
        if (err)
            return err;
    }
    dc->path[plen] = '\0';
    *out = msg;
    return CHURN_OK;
}

enum churn_err
churn_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                    struct churn_arena *arena, ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(errbuf, errlen, "JSON line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return CHURN_EINVAL;
    }
    struct decoder dc = {.arena = arena, .errbuf = errbuf, .errlen = errlen};
    enum churn_err err = decode_message(&dc, desc, root, out, 0);
    if (err == CHURN_ENOMEM)
        snprintf(errbuf, errlen, "out of memory");
    json_decref(root);
    return err;
}
