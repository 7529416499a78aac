/*
 * metrics_process.c - the process collector every registry starts with: CPU seconds,
 * resident and virtual memory, open and maximum file descriptors and the start time, read
 * from /proc/self at scrape time under the names Prometheus clients use (process_*).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "churn/metrics.h"

void churn__metrics_process_collect(void *ctx, struct churn_metrics_sink *sink);

struct proc_stat {
    double cpu_seconds;
    double start_seconds; /* since boot */
    double vsize, rss_bytes;
};

/* Fields of /proc/self/stat after the command name (which may hold spaces and parentheses). */
static int
read_proc_stat(struct proc_stat *out)
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3, the state */
    double clk = (double)sysconf(_SC_CLK_TCK);
    unsigned long long v[24] = {0};
    for (int field = 3; field <= 24 && *p; field++) {
        v[field - 1] = field == 3 ? 0 : strtoull(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    out->cpu_seconds = (double)(v[13] + v[14]) / clk; /* utime + stime */
    out->start_seconds = (double)v[21] / clk;
    out->vsize = (double)v[22];
    out->rss_bytes = (double)v[23] * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

static double
boot_time(void)
{
    char line[256];
    double btime = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtod(line + 6, NULL);
    fclose(f);
    return btime;
}

static double
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void
churn__metrics_process_collect(void *ctx, struct churn_metrics_sink *sink)
{
    struct proc_stat st;
    if (read_proc_stat(&st) == 0) {
        churn_metrics_sink_counter(sink, "process_cpu_seconds_total",
                                   "Total user and system CPU time spent in seconds.", "",
                                   st.cpu_seconds);
        churn_metrics_sink_gauge(sink, "process_resident_memory_bytes",
                                 "Resident memory size in bytes.", "", st.rss_bytes);
        churn_metrics_sink_gauge(sink, "process_virtual_memory_bytes",
                                 "Virtual memory size in bytes.", "", st.vsize);
        churn_metrics_sink_gauge(sink, "process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.", "",
                                 boot_time() + st.start_seconds);
    }
    churn_metrics_sink_gauge(sink, "process_open_fds", "Number of open file descriptors.", "",
                             open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        churn_metrics_sink_gauge(sink, "process_max_fds",
                                 "Maximum number of open file descriptors.", "",
                                 (double)rl.rlim_cur);
}
