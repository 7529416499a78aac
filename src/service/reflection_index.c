/*
 * reflection_index.c - walks a serialized FileDescriptorSet: the raw bytes of each
 * FileDescriptorProto are kept as they are (so reflection serves exactly what protoc wrote),
 * and each file is decoded once with protobuf-c to collect its imports and every symbol it
 * declares into a sorted table for binary search.
 */
#include "churn/reflection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "google/protobuf/descriptor.pb-c.h"

struct refl_file {
    const char *name; /* owned by decoded */
    const uint8_t *data;
    size_t len;
    int *deps;
    size_t n_deps;
    Google__Protobuf__FileDescriptorProto *decoded;
};

struct refl_symbol {
    char *name;
    int file;
};

struct churn_reflection {
    struct refl_file *files;
    size_t n_files;
    struct refl_symbol *symbols;
    size_t n_symbols, cap_symbols;
};

static int
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static enum churn_err
add_symbol(struct churn_reflection *r, const char *prefix, const char *name, int file)
{
    if (!prefix || !name) /* a descriptor without its name (fuzz_reflection found it) */
        return CHURN_ECORRUPT;
    if (r->n_symbols == r->cap_symbols) {
        size_t cap = r->cap_symbols ? r->cap_symbols * 2 : 256;
        struct refl_symbol *s = churn_realloc(r->symbols, cap * sizeof(*s));
        if (!s)
            return CHURN_ENOMEM;
        r->symbols = s;
        r->cap_symbols = cap;
    }
    size_t n = strlen(prefix) + strlen(name) + 2;
    char *full = churn_malloc(n);
    if (!full)
        return CHURN_ENOMEM;
    snprintf(full, n, "%s%s%s", prefix, *prefix ? "." : "", name);
    r->symbols[r->n_symbols].name = full;
    r->symbols[r->n_symbols].file = file;
    r->n_symbols++;
    return CHURN_OK;
}

static enum churn_err
add_enum(struct churn_reflection *r, const char *scope,
         const Google__Protobuf__EnumDescriptorProto *e, int file)
{
    enum churn_err err = add_symbol(r, scope, e->name, file);
    for (size_t i = 0; i < e->n_value && !err; i++)
        /* enum values are scoped like siblings of the enum (protobuf's C++ rule) */
        err = add_symbol(r, scope, e->value[i]->name, file);
    return err;
}

static enum churn_err
add_message(struct churn_reflection *r, const char *scope,
            const Google__Protobuf__DescriptorProto *m, int file, int depth)
{
    if (depth > 32)
        return CHURN_ECORRUPT;
    enum churn_err err = add_symbol(r, scope, m->name, file);
    if (err)
        return err;
    char *self = r->symbols[r->n_symbols - 1].name;
    for (size_t i = 0; i < m->n_field && !err; i++)
        err = add_symbol(r, self, m->field[i]->name, file);
    for (size_t i = 0; i < m->n_enum_type && !err; i++)
        err = add_enum(r, self, m->enum_type[i], file);
    for (size_t i = 0; i < m->n_nested_type && !err; i++)
        err = add_message(r, self, m->nested_type[i], file, depth + 1);
    return err;
}

static enum churn_err
index_file(struct churn_reflection *r, int idx)
{
    const Google__Protobuf__FileDescriptorProto *f = r->files[idx].decoded;
    const char *pkg = f->package ? f->package : "";
    enum churn_err err = CHURN_OK;
    for (size_t i = 0; i < f->n_message_type && !err; i++)
        err = add_message(r, pkg, f->message_type[i], idx, 0);
    for (size_t i = 0; i < f->n_enum_type && !err; i++)
        err = add_enum(r, pkg, f->enum_type[i], idx);
    for (size_t i = 0; i < f->n_service && !err; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
        err = add_symbol(r, pkg, s->name, idx);
        char *self = err ? NULL : r->symbols[r->n_symbols - 1].name;
        for (size_t j = 0; j < s->n_method && !err; j++)
            err = add_symbol(r, self, s->method[j]->name, idx);
    }
    return err;
}

static int
cmp_symbol(const void *a, const void *b)
{
    return strcmp(((const struct refl_symbol *)a)->name, ((const struct refl_symbol *)b)->name);
}

enum churn_err
churn_reflection_open(const uint8_t *set, size_t len, struct churn_reflection **out, char *errbuf,
                      size_t errlen)
{
    struct churn_reflection *r = churn_calloc(1, sizeof(*r));
    if (!r)
        return CHURN_ENOMEM;
    enum churn_err err = CHURN_ECORRUPT;
    size_t cap = 0;
    const uint8_t *p = set, *end = set + len;
    while (p < end) {
        uint64_t key, flen;
        if (read_varint(&p, end, &key) || key != ((1 << 3) | 2) || read_varint(&p, end, &flen) ||
            flen > (uint64_t)(end - p)) {
            snprintf(errbuf, errlen, "descriptor set: malformed at byte %zu", (size_t)(p - set));
            goto out_free;
        }
        if (r->n_files == cap) {
            cap = cap ? cap * 2 : 16;
            struct refl_file *nf = churn_realloc(r->files, cap * sizeof(*nf));
            if (!nf) {
                err = CHURN_ENOMEM;
                goto out_free;
            }
            r->files = nf;
        }
        struct refl_file *f = &r->files[r->n_files];
        memset(f, 0, sizeof(*f));
        f->data = p;
        f->len = (size_t)flen;
        f->decoded = google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
        if (!f->decoded || !f->decoded->name) {
            snprintf(errbuf, errlen, "descriptor set: file %zu does not decode", r->n_files);
            if (f->decoded)
                google__protobuf__file_descriptor_proto__free_unpacked(f->decoded, NULL);
            goto out_free;
        }
        f->name = f->decoded->name;
        r->n_files++;
        p += flen;
    }
    for (size_t i = 0; i < r->n_files; i++) {
        struct refl_file *f = &r->files[i];
        f->deps = churn_calloc(f->decoded->n_dependency + 1, sizeof(int));
        if (!f->deps) {
            err = CHURN_ENOMEM;
            goto out_free;
        }
        for (size_t d = 0; d < f->decoded->n_dependency; d++) {
            int dep = churn_reflection_find_file(r, f->decoded->dependency[d]);
            if (dep < 0) {
                snprintf(errbuf, errlen, "descriptor set: %s imports %s, which is missing", f->name,
                         f->decoded->dependency[d]);
                goto out_free;
            }
            f->deps[f->n_deps++] = dep;
        }
        err = index_file(r, (int)i);
        if (err) {
            snprintf(errbuf, errlen, "descriptor set: cannot index %s", f->name);
            goto out_free;
        }
        err = CHURN_ECORRUPT;
    }
    if (r->n_symbols)
        qsort(r->symbols, r->n_symbols, sizeof(*r->symbols), cmp_symbol);
    *out = r;
    return CHURN_OK;
out_free:
    churn_reflection_close(r);
    return err;
}

void
churn_reflection_close(struct churn_reflection *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_files; i++) {
        google__protobuf__file_descriptor_proto__free_unpacked(r->files[i].decoded, NULL);
        churn_free(r->files[i].deps);
    }
    for (size_t i = 0; i < r->n_symbols; i++)
        churn_free(r->symbols[i].name);
    churn_free(r->symbols);
    churn_free(r->files);
    churn_free(r);
}

size_t
churn_reflection_file_count(const struct churn_reflection *r)
{
    return r->n_files;
}

int
churn_reflection_find_file(const struct churn_reflection *r, const char *name)
{
    for (size_t i = 0; i < r->n_files; i++)
        if (r->files[i].name && strcmp(r->files[i].name, name) == 0)
            return (int)i;
    return -1;
}

int
churn_reflection_find_symbol(const struct churn_reflection *r, const char *symbol)
{
    struct refl_symbol key = {.name = (char *)symbol};
    const struct refl_symbol *s =
        bsearch(&key, r->symbols, r->n_symbols, sizeof(*r->symbols), cmp_symbol);
    return s ? s->file : -1;
}

const char *
churn_reflection_file_name(const struct churn_reflection *r, int idx)
{
    return r->files[idx].name;
}

void
churn_reflection_file_bytes(const struct churn_reflection *r, int idx, const uint8_t **data,
                            size_t *len)
{
    *data = r->files[idx].data;
    *len = r->files[idx].len;
}

size_t
churn_reflection_closure(const struct churn_reflection *r, int idx, int *out, size_t cap)
{
    /* breadth-first over imports; a file is listed once however often it is imported */
    size_t n = 0, head = 0;
    unsigned char *seen = churn_calloc(r->n_files ? r->n_files : 1, 1);
    int *queue = churn_calloc(r->n_files ? r->n_files : 1, sizeof(int));
    if (!seen || !queue)
        goto out;
    size_t tail = 0;
    queue[tail++] = idx;
    seen[idx] = 1;
    while (head < tail) {
        int f = queue[head++];
        if (n < cap)
            out[n] = f;
        n++;
        for (size_t d = 0; d < r->files[f].n_deps; d++) {
            int dep = r->files[f].deps[d];
            if (!seen[dep]) {
                seen[dep] = 1;
                queue[tail++] = dep;
            }
        }
    }
out:
    churn_free(seen);
    churn_free(queue);
    return n;
}
