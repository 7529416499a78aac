/*
 * churn/file.h - reading a small whole file from a path that input may name: opened without
 * blocking (a FIFO or a device never stalls the caller, issue 13 item 10), only a regular
 * file is read (checked on the open descriptor, so a file swapped after a path check is
 * still refused), with a size cap; and the check that a path names a file inside a given
 * directory (no "..", no symbolic link out of it). Errors name the rule that was broken,
 * never the content of what was opened.
 */
#ifndef CHURN_FILE_H
#define CHURN_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/error.h"

/**
 * churn_file_read_regular() - read the file at @path whole into a NUL-terminated heap buffer
 * *out (churn_free it) of *len bytes. The file is opened with O_NONBLOCK (and O_NOFOLLOW
 * when @nofollow), then fstat'ed: a directory, FIFO, device or socket is CHURN_EPERM ("is a
 * FIFO, not a regular file"), a file over @cap bytes CHURN_ETOOBIG, a missing one
 * CHURN_ENOTFOUND. @err gets "PATH: why". Out-parameters are untouched on error.
 */
enum churn_err churn_file_read_regular(const char *path, size_t cap, bool nofollow, char **out,
                                       size_t *len, char *err, size_t errlen);

/**
 * churn_file_inside_dir() - resolve @path (relative paths are taken relative to @dir) and
 * check that it names a regular file inside @dir: no ".." component (CHURN_EPERM), the
 * resolved path (symbolic links followed) under the resolved @dir (CHURN_EPERM: "resolves
 * outside"), not a directory, FIFO, device or socket (CHURN_EPERM), present
 * (CHURN_ENOTFOUND); @dir itself missing or unusable is CHURN_EPRECOND. On success the resolved
 * absolute path is copied to @resolved (@cap bytes; CHURN_ETOOBIG if longer). Nothing is opened.
 * @err names the rule.
 */
enum churn_err churn_file_inside_dir(const char *dir, const char *path, char *resolved, size_t cap,
                                     char *err, size_t errlen);

#endif
