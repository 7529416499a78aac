/*
 * test_config.c - churnd's configuration: defaults, config file, environment and flags,
 * their precedence, precise errors for every kind of bad input, and the duration and fraction
 * values of the retraining settings.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "churn/config.h"

static struct churn_config cfg;
static char err[1024];

static void
setup(void)
{
    cr_assert_eq(churn_config_init(&cfg), CHURN_OK);
    err[0] = '\0';
}

static void
teardown(void)
{
    churn_config_fini(&cfg);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults)
{
    cr_assert_str_eq(cfg.listen, "127.0.0.1:50051");
    cr_assert_eq(cfg.max_recv_bytes, 4194304);
    cr_assert_eq(cfg.workers, 0);
    cr_assert_eq(cfg.log_level, CHURN_LOG_INFO);
    cr_assert_eq(cfg.drain_timeout_ms, 10000);
}

Test(config, file_values_comments_and_blank_lines)
{
    const char *text = "# churnd\n\nlisten = 0.0.0.0:6000  # all interfaces\r\n"
                       "workers=3\nlog-format = json\n";
    cr_assert_eq(churn_config_load_text(&cfg, "c.conf", text, strlen(text), err, sizeof(err)),
                 CHURN_OK, "%s", err);
    cr_assert_str_eq(cfg.listen, "0.0.0.0:6000");
    cr_assert_eq(cfg.workers, 3);
    cr_assert_eq(cfg.log_format, CHURN_LOG_JSON);
}

Test(config, file_errors_name_file_and_line)
{
    const char *cases[][2] = {
        {"listen = a\nlisen = b\n", "c.conf:2: unknown key 'lisen'"},
        {"workers = many\n", "c.conf:1: workers: 'many' is not an integer"},
        {"\nworkers = 999\n", "c.conf:2: workers: 999 is out of range [1, 256]"},
        {"just words\n", "c.conf:1: expected 'key = value'"},
        {"log-level = loud\n",
         "c.conf:1: log-level: 'loud' is not one of error, warn, info, debug"},
        {"config = other.conf\n", "c.conf:1: 'config' cannot be set in a file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_neq(churn_config_load_text(&cfg, "c.conf", cases[i][0], strlen(cases[i][0]), err,
                                             sizeof(err)),
                      CHURN_OK);
        cr_assert_str_eq(err, cases[i][1]);
    }
}

Test(config, file_hostile_input)
{
    char nul[] = "listen = a\0b\n";
    cr_assert_eq(churn_config_load_text(&cfg, "c.conf", nul, sizeof(nul) - 1, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_str_eq(err, "c.conf:1: NUL byte in line");
    static char longline[10000];
    memset(longline, 'a', sizeof(longline) - 1);
    cr_assert_eq(
        churn_config_load_text(&cfg, "c.conf", longline, strlen(longline), err, sizeof(err)),
        CHURN_ETOOBIG);
    cr_assert_str_eq(err, "c.conf:1: line is over 4096 bytes");
    /* truncated: no newline at the end is fine */
    cr_assert_eq(churn_config_load_text(&cfg, "c.conf", "workers = 2", 11, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(cfg.workers, 2);
}

Test(config, missing_file)
{
    cr_assert_eq(churn_config_load_file(&cfg, "/nonexistent/churnd.conf", err, sizeof(err)),
                 CHURN_ENOTFOUND);
    cr_assert(strstr(err, "/nonexistent/churnd.conf") != NULL);
}

Test(config, environment)
{
    char *env[] = {"PATH=/bin", "CHURND_LISTEN=1.2.3.4:5", "CHURND_MAX_RECV_BYTES=2048", NULL};
    cr_assert_eq(churn_config_load_env(&cfg, env, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_str_eq(cfg.listen, "1.2.3.4:5");
    cr_assert_eq(cfg.max_recv_bytes, 2048);
    char *bad[] = {"CHURND_WORKERS=abc", NULL};
    cr_assert_eq(churn_config_load_env(&cfg, bad, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "environment CHURND_WORKERS: workers: 'abc' is not an integer");
    char *unknown[] = {"CHURND_NOPE=1", NULL};
    cr_assert_eq(churn_config_load_env(&cfg, unknown, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "environment: unknown variable CHURND_NOPE");
}

Test(config, flags_beat_environment_which_beats_file)
{
    char path[] = "/tmp/churn-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("listen = file:1\nworkers = 4\nlog-level = warn\n", f);
    fclose(f);
    char cfgflag[64];
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    char *argv[] = {"churnd", cfgflag, "--listen", "flag:3", NULL};
    char *env[] = {"CHURND_LISTEN=env:2", "CHURND_WORKERS=5", NULL};
    enum churn_config_action action;
    cr_assert_eq(churn_config_load(&cfg, 4, argv, env, &action, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    unlink(path);
    cr_assert_eq(action, CHURN_CONFIG_RUN);
    cr_assert_str_eq(cfg.listen, "flag:3");
    cr_assert_eq(cfg.workers, 5);
    cr_assert_eq(cfg.log_level, CHURN_LOG_WARN);
}

Test(config, flag_errors)
{
    enum churn_config_action action;
    char *a1[] = {"churnd", "--wrokers", "2", NULL};
    cr_assert_eq(churn_config_load(&cfg, 3, a1, NULL, &action, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "unknown flag '--wrokers' (see --help)");
    char *a2[] = {"churnd", "--workers", NULL};
    cr_assert_eq(churn_config_load(&cfg, 2, a2, NULL, &action, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "--workers needs a value");
    char *a3[] = {"churnd", "--max-recv-bytes=1", NULL};
    cr_assert_eq(churn_config_load(&cfg, 2, a3, NULL, &action, err, sizeof(err)), CHURN_ERANGE);
    cr_assert(strstr(err, "max-recv-bytes: 1 is out of range") != NULL, "%s", err);
    char *a4[] = {"churnd", "stray", NULL};
    cr_assert_eq(churn_config_load(&cfg, 2, a4, NULL, &action, err, sizeof(err)), CHURN_EINVAL);
    char *a5[] = {"churnd", "--workers", "99999999999999999999", NULL};
    cr_assert_eq(churn_config_load(&cfg, 3, a5, NULL, &action, err, sizeof(err)), CHURN_EINVAL);
}

Test(config, help_and_version)
{
    enum churn_config_action action;
    char *a1[] = {"churnd", "--help", NULL};
    cr_assert_eq(churn_config_load(&cfg, 2, a1, NULL, &action, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(action, CHURN_CONFIG_HELP);
    char *a2[] = {"churnd", "--version", NULL};
    cr_assert_eq(churn_config_load(&cfg, 2, a2, NULL, &action, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(action, CHURN_CONFIG_VERSION);
    char *usage = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&usage, &len);
    churn_config_usage(f, "churnd");
    fclose(f);
    cr_assert(strstr(usage, "--listen") && strstr(usage, "CHURND_LISTEN"));
    free(usage);
}

Test(config, retraining_durations_and_margin)
{
    cr_assert_eq(cfg.retrain_every_ms, 0, "off by default");
    cr_assert_eq(cfg.retrain_margin, 0.005);
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"7d", 7LL * 86400000},
                {"12h", 12LL * 3600000},
                {"90m", 90LL * 60000},
                {"2w", 14LL * 86400000},
                {"60s", 60000},
                {"off", 0},
                {"0", 0},
                {"366d", 366LL * 86400000}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_assert_eq(churn_config_set(&cfg, "retrain-every", good[i].text, err, sizeof(err)),
                     CHURN_OK, "%s: %s", good[i].text, err);
        cr_assert_eq(cfg.retrain_every_ms, good[i].ms, "%s", good[i].text);
    }
    static const struct {
        const char *text, *needle;
        enum churn_err e;
    } bad[] = {{"7x", "is not a duration", CHURN_EINVAL},
               {"", "is not a duration", CHURN_EINVAL},
               {"-1d", "is not a duration", CHURN_EINVAL},
               {"1.5d", "is not a duration", CHURN_EINVAL},
               {"d", "is not a duration", CHURN_EINVAL},
               {"7 d", "is not a duration", CHURN_EINVAL},
               {"7dd", "is not a duration", CHURN_EINVAL},
               {"59s", "out of range", CHURN_ERANGE},
               {"367d", "out of range", CHURN_ERANGE},
               {"99999999999999999w", "out of range", CHURN_ERANGE}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum churn_err e = churn_config_set(&cfg, "retrain-every", bad[i].text, err, sizeof(err));
        cr_assert_eq(e, bad[i].e, "'%s': %s", bad[i].text, churn_strerror(e));
        cr_assert(strstr(err, "retrain-every") && strstr(err, bad[i].needle), "%s: %s", bad[i].text,
                  err);
    }
    cr_assert_eq(cfg.retrain_every_ms, 366LL * 86400000, "refusals leave the value alone");
    cr_assert_eq(churn_config_set(&cfg, "retrain-margin", "0.02", err, sizeof(err)), CHURN_OK);
    cr_assert_eq(cfg.retrain_margin, 0.02);
    cr_assert_neq(churn_config_set(&cfg, "retrain-margin", "1.5", err, sizeof(err)), CHURN_OK);
    cr_assert(strstr(err, "retrain-margin: '1.5' is not a number from 0 to 1"), "%s", err);
    cr_assert_neq(churn_config_set(&cfg, "retrain-margin", "nan", err, sizeof(err)), CHURN_OK);
}
