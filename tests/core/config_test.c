#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "cg_test.h"

#include <unistd.h>

#define MAX_ARGS 16

/* Writes text to a fresh temporary file; returns its path (static buffer
 * per slot so two files can coexist). */
static const char *temp_file(int slot, const char *text)
{
    static char paths[2][64];
    snprintf(paths[slot], sizeof(paths[slot]), "/tmp/cg_config_test_XXXXXX");
    int fd = mkstemp(paths[slot]);
    if (fd < 0)
        return "/nonexistent";
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        CHECK(0);
    close(fd);
    return paths[slot];
}

/* argv from a NULL-terminated list, with "@" replaced by path. */
static int load(cg_config *cfg, const char *const *args, const char *path, int *action, char *err,
                size_t errlen)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"clipgate";
    for (size_t i = 0; args[i] && argc < MAX_ARGS; i++)
        argv[argc++] = (char *)(strcmp(args[i], "@") == 0 ? path : args[i]);
    argv[argc] = NULL;
    return cg_config_load(cfg, argc, argv, action, err, errlen);
}

static void test_duration(void)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t us;
    } v[] = {
        {"2", 0, 2000000},
        {"2.5", 0, 2500000},
        {"2s", 0, 2000000},
        {"500ms", 0, 500000},
        {"250us", 0, 250},
        {"5m", 0, 300000000},
        {"1.5m", 0, 90000000},
        {"1h", 0, 3600000000ull},
        {"600", 0, 600000000},
        {"600.5", 0, 600500000},
        {"600s", 0, 600000000},
        {"0", 0, 0},
        {"0.000001", 0, 1},
        {"0.0000009", 0, 0}, /* below a microsecond: truncated */
        {"0.1000000000001", 0, 100000},
        {"", CG_EINVAL, 0},
        {"s", CG_EINVAL, 0},
        {"-1", CG_EINVAL, 0},
        {"2x", CG_EINVAL, 0},
        {"2.", CG_EINVAL, 0},
        {".5", CG_EINVAL, 0},
        {"1e3", CG_EINVAL, 0},
        {" 2", CG_EINVAL, 0},
        {"2 s", CG_EINVAL, 0},
        {"2ss", CG_EINVAL, 0},
        {"2.5.1", CG_EINVAL, 0},
        {"99999999999999999999", CG_ERANGE, 0},
        {"5124095576h", 0, 18446744073600000000ull}, /* the largest whole hour */
        {"5124095577h", CG_ERANGE, 0},
        {"18446744073709551615us", 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t us = 12345;
        int rc = cg_parse_duration_us(v[i].in, &us);
        if (rc != v[i].rc || (rc == 0 && us != v[i].us)) {
            fprintf(stderr, "duration \"%s\": rc %d us %llu, expected rc %d us %llu\n", v[i].in, rc,
                    (unsigned long long)us, v[i].rc, (unsigned long long)v[i].us);
            cg_test_failures++;
        }
    }
}

static void test_size(void)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t v;
    } v[] = {
        {"262144", 0, 262144},          {"256k", 0, 262144},   {"256K", 0, 262144},
        {"256KiB", 0, 262144},          {"1M", 0, 1048576},    {"1MiB", 0, 1048576},
        {"2G", 0, 2147483648ull},       {"", CG_EINVAL, 0},    {"k", CG_EINVAL, 0},
        {"1.5k", CG_EINVAL, 0},         {"1KB", CG_EINVAL, 0}, {"-1", CG_EINVAL, 0},
        {"99999999999G", CG_ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t out = 0;
        int rc = cg_parse_size(v[i].in, &out);
        if (rc != v[i].rc || (rc == 0 && out != v[i].v)) {
            fprintf(stderr, "size \"%s\": rc %d -> %llu\n", v[i].in, rc, (unsigned long long)out);
            cg_test_failures++;
        }
    }
}

static void test_defaults(void)
{
    cg_config c;
    char err[256];
    int action = -1;
    const char *none[] = {NULL};
    CHECK_INT(load(&c, none, NULL, &action, err, sizeof(err)), 0);
    CHECK_INT(action, CG_CONFIG_RUN);
    CHECK(c.config == NULL);
    CHECK_INT(c.http_port, 8080);
    CHECK_INT(c.media_port, 8189);
    CHECK_INT(c.events_port, 8081);
    CHECK_STR(c.bind, "0.0.0.0");
    CHECK_STR(c.data_dir, "./data");
    CHECK_INT(c.public_ip.n, 0);
    CHECK(c.publish_token == NULL);
    CHECK(c.play_token == NULL);
    CHECK(c.tls_cert == NULL && c.tls_key == NULL);
    CHECK_INT(c.ice_server.n, 0);
    CHECK_INT(c.log_level, CG_LOG_INFO);
    CHECK_INT(c.max_sessions, 100);
    CHECK_INT(c.max_viewers, 1000);
    CHECK_INT(c.max_body, 256 * 1024);
    CHECK_INT(c.segment_duration_us, 2000000);
    CHECK_INT(c.live_window, 6);
    CHECK_INT(c.preview_cap_us, 600000000);
    CHECK(c.retention_us == CG_RETENTION_FOREVER);
    CHECK_INT(c.audio_codec, CG_AUDIO_AAC);
    CHECK_INT(c.reconnect_grace_us, 10000000);
    CHECK_INT(c.max_clip_duration_us, 600000000);
    CHECK(c.dump_dir == NULL);
    CHECK_INT(c.consent_timeout_us, 30000000);
    cg_config_clear(&c);
    cg_config_clear(&c); /* cleared twice is fine */
}

static void test_flags(void)
{
    cg_config c;
    char err[256];
    int action;
    const char *args[] = {"--http-port=9000",
                          "--bind",
                          "127.0.0.1",
                          "--public-ip",
                          "10.0.0.1",
                          "--public-ip",
                          "::1",
                          "--log-level",
                          "debug",
                          "--retention",
                          "48h",
                          NULL};
    CHECK_INT(load(&c, args, NULL, &action, err, sizeof(err)), 0);
    CHECK_INT(c.http_port, 9000);
    CHECK_STR(c.bind, "127.0.0.1");
    CHECK_INT(c.public_ip.n, 2);
    if (c.public_ip.n == 2) {
        CHECK_STR(c.public_ip.v[0], "10.0.0.1");
        CHECK_STR(c.public_ip.v[1], "::1");
    }
    CHECK_INT(c.log_level, CG_LOG_DEBUG);
    CHECK_INT(c.retention_us, 48ull * 3600 * 1000000);
    cg_config_clear(&c);

    const char *more[] = {"--retention",
                          "live",
                          "--audio-codec",
                          "opus",
                          "--max-body",
                          "1M",
                          "--segment-duration",
                          "500ms",
                          "--publish-token",
                          "s3cret",
                          "--ice-server",
                          "stun:stun.example.org:3478",
                          NULL};
    CHECK_INT(load(&c, more, NULL, &action, err, sizeof(err)), 0);
    CHECK(c.retention_us == CG_RETENTION_LIVE);
    CHECK_INT(c.audio_codec, CG_AUDIO_OPUS);
    CHECK_INT(c.max_body, 1048576);
    CHECK_INT(c.segment_duration_us, 500000);
    CHECK_STR(c.publish_token, "s3cret");
    CHECK_INT(c.ice_server.n, 1);
    cg_config_clear(&c);

    /* An empty optional string unsets it. */
    const char *empty[] = {"--publish-token", "", NULL};
    CHECK_INT(load(&c, empty, NULL, &action, err, sizeof(err)), 0);
    CHECK(c.publish_token == NULL);
    cg_config_clear(&c);

    const char *help[] = {"--http-port", "1", "--help", NULL};
    CHECK_INT(load(&c, help, NULL, &action, err, sizeof(err)), 0);
    CHECK_INT(action, CG_CONFIG_HELP);
    cg_config_clear(&c);
    const char *version[] = {"--version", NULL};
    CHECK_INT(load(&c, version, NULL, &action, err, sizeof(err)), 0);
    CHECK_INT(action, CG_CONFIG_VERSION);
    cg_config_clear(&c);
}

static void test_file_then_flags(void)
{
    const char *path = temp_file(0, "{\n"
                                    "  \"http-port\": 9000,\n"
                                    "  \"media-port\": 9001,\n"
                                    "  \"public-ip\": [\"10.0.0.1\", \"10.0.0.9\"],\n"
                                    "  \"segment-duration\": 4,\n"
                                    "  \"reconnect-grace\": 2.5,\n"
                                    "  \"preview-cap\": \"5m\",\n"
                                    "  \"max-body\": \"1M\",\n"
                                    "  \"ice-server\": \"stun:stun.example.org:3478\",\n"
                                    "  \"audio-codec\": \"opus\",\n"
                                    "  \"publish-token\": \"from-file\"\n"
                                    "}\n");
    cg_config c;
    char err[256];
    int action;
    /* --config after the flag it loses to: order on the command line does
     * not matter, flags always win over the file. */
    const char *args[] = {"--http-port", "9100",        "--public-ip", "10.0.0.2", "--config",
                          "@",           "--public-ip", "10.0.0.3",    NULL};
    CHECK_INT(load(&c, args, path, &action, err, sizeof(err)), 0);
    CHECK_STR(c.config, path);
    CHECK_INT(c.http_port, 9100);   /* flag over file */
    CHECK_INT(c.media_port, 9001);  /* file over default */
    CHECK_INT(c.events_port, 8081); /* default */
    CHECK_INT(c.public_ip.n, 2);    /* the flags' list replaces the file's */
    if (c.public_ip.n == 2) {
        CHECK_STR(c.public_ip.v[0], "10.0.0.2");
        CHECK_STR(c.public_ip.v[1], "10.0.0.3");
    }
    CHECK_INT(c.segment_duration_us, 4000000);
    CHECK_INT(c.reconnect_grace_us, 2500000);
    CHECK_INT(c.preview_cap_us, 300000000);
    CHECK_INT(c.max_body, 1048576);
    CHECK_INT(c.ice_server.n, 1);
    CHECK_INT(c.audio_codec, CG_AUDIO_OPUS);
    CHECK_STR(c.publish_token, "from-file");
    cg_config_clear(&c);

    const char *only_file[] = {"--config", "@", NULL};
    CHECK_INT(load(&c, only_file, path, &action, err, sizeof(err)), 0);
    CHECK_INT(c.http_port, 9000);
    CHECK_INT(c.public_ip.n, 2);
    cg_config_clear(&c);
    unlink(path);
}

struct err_case {
    const char *args[8];
    const char *file; /* written to a temp file and passed as "@" */
    int rc;
    const char *msg; /* "%s" stands for the file's path */
};

static const struct err_case err_cases[] = {
    {{"--htp-port", "1"}, NULL, CG_EINVAL, "unknown option \"--htp-port\" (see --help)"},
    {{"--http-port"}, NULL, CG_EINVAL, "--http-port needs a value (--http-port N)"},
    {{"--http-port", "--media-port", "5"},
     NULL,
     CG_EINVAL,
     "--http-port needs a value (--http-port N)"},
    {{"--http-port", "70000"}, NULL, CG_EINVAL, "--http-port: \"70000\" is not a port (1-65535)"},
    {{"--http-port", "0"}, NULL, CG_EINVAL, "--http-port: \"0\" is not a port (1-65535)"},
    {{"--media-port=http"}, NULL, CG_EINVAL, "--media-port: \"http\" is not a port (1-65535)"},
    {{"--events-port", "-1"}, NULL, CG_EINVAL, "--events-port: \"-1\" is not a port (0-65535)"},
    {{"--events-port", "65536"},
     NULL,
     CG_EINVAL,
     "--events-port: \"65536\" is not a port (0-65535)"},
    {{"--events-queue", "0"}, NULL, CG_EINVAL, "--events-queue: \"0\" is out of range (1-65536)"},
    {{"stray"},
     NULL,
     CG_EINVAL,
     "unexpected argument \"stray\" (options start with --; see --help)"},
    {{"--max-sessions", "0"}, NULL, CG_EINVAL, "--max-sessions: \"0\" is out of range (1-100000)"},
    {{"--max-viewers", "many"}, NULL, CG_EINVAL, "--max-viewers: \"many\" is not a whole number"},
    {{"--segment-duration", "5x"},
     NULL,
     CG_EINVAL,
     "--segment-duration: \"5x\" is not a duration (like 2, 2.5, 500ms, 5m, 1h)"},
    {{"--segment-duration", "2h"},
     NULL,
     CG_EINVAL,
     "--segment-duration: \"2h\" is out of range (500ms-1m)"},
    {{"--max-body", "512"}, NULL, CG_EINVAL, "--max-body: \"512\" is out of range (1KiB-64MiB)"},
    {{"--max-body", "lots"},
     NULL,
     CG_EINVAL,
     "--max-body: \"lots\" is not a size in bytes (like 262144, 256k, 1M)"},
    {{"--log-level", "verbose"},
     NULL,
     CG_EINVAL,
     "--log-level: \"verbose\" is not one of: error, warn, info, debug"},
    {{"--retention", "3d"},
     NULL,
     CG_EINVAL,
     "--retention: \"3d\" is not forever, live or a number of hours like 48h"},
    {{"--public-ip", "not-an-ip"},
     NULL,
     CG_EINVAL,
     "--public-ip: \"not-an-ip\" is not an IP address"},
    {{"--ice-server", "http://x"},
     NULL,
     CG_EINVAL,
     "--ice-server: \"http://x\" is not a STUN or TURN URL (like stun:stun.example.org:3478)"},
    {{"--data-dir", ""}, NULL, CG_EINVAL, "--data-dir: must not be empty"},
    {{"--tls-cert", "cert.pem"},
     NULL,
     CG_EINVAL,
     "--tls-cert needs --tls-key as well (HTTPS takes a certificate and its key)"},
    {{"--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"},
     NULL,
     CG_EIO,
     "--tls-cert: cannot read \"/nonexistent/cert.pem\": No such file or directory"},
    {{"--tls-cert", "@", "--tls-key", "@"},
     "not a certificate\n",
     CG_EINVAL,
     "--tls-cert: \"%s\" is not a PEM file (no -----BEGIN line)"},
    {{"--config", "/nonexistent/clipgate.json"},
     NULL,
     CG_EIO,
     "--config: cannot read \"/nonexistent/clipgate.json\": No such file or directory"},
    /* A command-line mistake is reported before the file is even read. */
    {{"--config", "/nonexistent/clipgate.json", "--bogus"},
     NULL,
     CG_EINVAL,
     "unknown option \"--bogus\" (see --help)"},
    {{"--config", "@"},
     "{\n  \"http-port\": 8080,\n  \"htp-port\": 1\n}\n",
     CG_EINVAL,
     "%s:3:3: unknown key \"htp-port\""},
    {{"--config", "@"},
     "{\n  \"http-port\": 8080,\n  \"media-port\": \n}\n",
     CG_EPROTO,
     "%s:4:1: not valid JSON: unexpected token near '}'"},
    {{"--config", "@"},
     "{\"http-port\": 1, \"http-port\": 2}",
     CG_EPROTO,
     "%s:1:28: not valid JSON: duplicate object key near '\"http-port\"'"},
    {{"--config", "@"},
     "",
     CG_EPROTO,
     "%s:1:0: not valid JSON: '[' or '{' expected near end of file"},
    {{"--config", "@"},
     "[8080]",
     CG_EINVAL,
     "%s: must hold a JSON object like {\"http-port\": 8080}, not an array"},
    {{"--config", "@"},
     "{\"http-port\": \"8080\"}",
     CG_EINVAL,
     "%s:1:2: \"http-port\" must be a whole number, not a string"},
    {{"--config", "@"},
     "{\"http-port\": 70000}",
     CG_EINVAL,
     "%s:1:2: http-port: \"70000\" is not a port (1-65535)"},
    {{"--config", "@"},
     "{\"public-ip\": [\"10.0.0.1\", 5]}",
     CG_EINVAL,
     "%s:1:2: \"public-ip\" must be an array of strings, but item 1 is a whole number"},
    {{"--config", "@"},
     "{\"data-dir\": null}",
     CG_EINVAL,
     "%s:1:2: \"data-dir\" must be a string, not null"},
    {{"--config", "@"},
     "{\"segment-duration\": true}",
     CG_EINVAL,
     "%s:1:2: \"segment-duration\" must be a number of seconds or a string like \"500ms\", not "
     "a boolean"},
    {{"--config", "@"},
     "{\"config\": \"other.json\"}",
     CG_EINVAL,
     "%s:1:2: unknown key \"config\" (only valid on the command line)"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *e = &err_cases[i];
        const char *path = e->file ? temp_file(1, e->file) : NULL;
        cg_config c;
        char err[512], want[512];
        int action;
        err[0] = '\0';
        int rc = load(&c, e->args, path, &action, err, sizeof(err));
        snprintf(want, sizeof(want), e->msg, path ? path : "");
        if (rc != e->rc || strcmp(err, want) != 0) {
            fprintf(stderr, "error case %zu: rc %d \"%s\"\n          expected rc %d \"%s\"\n", i,
                    rc, err, e->rc, want);
            cg_test_failures++;
        }
        CHECK(strchr(err, '\n') == NULL); /* one line */
        if (rc == 0)
            cg_config_clear(&c);
        /* On error the config is cleared: nothing to free, nothing leaks. */
        CHECK(c.bind == NULL && c.public_ip.n == 0);
        if (path)
            unlink(path);
    }
}

static void test_set_and_usage(void)
{
    cg_config c;
    CHECK_INT(cg_config_defaults(&c), 0);
    char err[256];
    CHECK_INT(cg_config_set(&c, "live-window", "10", err, sizeof(err)), 0);
    CHECK_INT(c.live_window, 10);
    CHECK_INT(cg_config_set(&c, "nope", "1", err, sizeof(err)), CG_ENOTFOUND);
    CHECK_INT(cg_config_set(&c, "live-window", "1", err, sizeof(err)), CG_EINVAL);
    CHECK_STR(err, "--live-window: \"1\" is out of range (2-1000)");

    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    CHECK_INT(cg_config_usage(&d, "clipgate"), 0);
    size_t n;
    const cg_option *opts = cg_config_options(&n);
    CHECK(n >= 25);
    for (size_t i = 0; i < n; i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "  --%s ", opts[i].name);
        if (!strstr(cg_dbuf_str(&d), flag)) {
            fprintf(stderr, "usage lacks %s\n", flag);
            cg_test_failures++;
        }
        CHECK(opts[i].help && *opts[i].help);
    }
    CHECK(strstr(cg_dbuf_str(&d), "(default: 8080)") != NULL);
    CHECK(strstr(cg_dbuf_str(&d), "--help") != NULL);
    cg_dbuf_free(&d);
    cg_config_clear(&c);
}

static void test_public_ips(void)
{
    cg_config c;
    char err[64];
    CHECK_INT(cg_config_defaults(&c), 0);
    CHECK_INT(cg_config_set(&c, "bind", "127.0.0.1", err, sizeof(err)), 0);
    CHECK_INT(cg_config_default_public_ips(&c), 0);
    CHECK_INT(c.public_ip.n, 1);
    if (c.public_ip.n)
        CHECK_STR(c.public_ip.v[0], "127.0.0.1");
    cg_config_clear(&c);

    CHECK_INT(cg_config_defaults(&c), 0);
    CHECK_INT(cg_config_set(&c, "bind", "192.0.2.7", err, sizeof(err)), 0);
    CHECK_INT(cg_config_default_public_ips(&c), 0);
    CHECK_INT(c.public_ip.n, 1);
    if (c.public_ip.n)
        CHECK_STR(c.public_ip.v[0], "192.0.2.7");
    cg_config_clear(&c);

    /* A list given by the user is left alone. */
    CHECK_INT(cg_config_defaults(&c), 0);
    CHECK_INT(cg_config_set(&c, "public-ip", "198.51.100.1", err, sizeof(err)), 0);
    CHECK_INT(cg_config_default_public_ips(&c), 0);
    CHECK_INT(c.public_ip.n, 1);
    if (c.public_ip.n)
        CHECK_STR(c.public_ip.v[0], "198.51.100.1");
    cg_config_clear(&c);

    /* Wildcard: at least one address, never a loopback one unless alone. */
    CHECK_INT(cg_config_defaults(&c), 0);
    CHECK_INT(cg_config_default_public_ips(&c), 0);
    CHECK(c.public_ip.n >= 1);
    for (size_t i = 0; c.public_ip.n > 1 && i < c.public_ip.n; i++)
        CHECK(strncmp(c.public_ip.v[i], "127.", 4) != 0);
    cg_config_clear(&c);
}

int main(void)
{
    RUN(test_duration);
    RUN(test_size);
    RUN(test_defaults);
    RUN(test_flags);
    RUN(test_file_then_flags);
    RUN(test_errors);
    RUN(test_set_and_usage);
    RUN(test_public_ips);
    return TEST_RESULT();
}
