/*
 * clock.c - wall and monotonic clocks, ISO-8601 formatting and parsing.
 */
#include "churn/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

int64_t
churn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
churn_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *
churn_format_time_ms(int64_t ms, char *out, unsigned long outlen)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return out;
}

static int
digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to the civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool
churn_parse_iso8601_ms(const char *s, int64_t *out_ms)
{
    int y = digits(s, 4), mo = -1, d = -1, h = 0, mi = 0, sec = 0, ms = 0;
    if (y < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 || s[7] != '-' ||
        (d = digits(s + 8, 2)) < 1)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    const char *p = s + 10;
    int64_t offset_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if ((h = digits(p + 1, 2)) < 0 || h > 23 || p[3] != ':' || (mi = digits(p + 4, 2)) < 0 ||
            mi > 59)
            return false;
        p += 6;
        if (*p == ':') {
            if ((sec = digits(p + 1, 2)) < 0 || sec > 60)
                return false;
            if (sec == 60)
                sec = 59; /* a leap second */
            p += 3;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                for (; *p >= '0' && *p <= '9'; p++, n++)
                    if (n < 3)
                        ms = ms * 10 + (*p - '0');
                if (n == 0)
                    return false;
                for (; n < 3; n++)
                    ms *= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh = digits(p + 1, 2), om = 0;
            if (oh < 0 || oh > 23)
                return false;
            p += 3;
            if (*p == ':')
                p++;
            if (*p >= '0' && *p <= '9') {
                if ((om = digits(p, 2)) < 0 || om > 59)
                    return false;
                p += 2;
            }
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return true;
}

int32_t
churn_day_of_ms(int64_t ms)
{
    int64_t d = ms / CHURN_MS_PER_DAY;
    if (ms % CHURN_MS_PER_DAY < 0)
        d--;
    return (int32_t)d;
}
