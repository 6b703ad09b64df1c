/* Configuration: the option table, its value parsers, and the three readers
 * (command line, JSON file, --help) that all walk the same table. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define CFG_FILE_MAX (1u << 20) /* a config file is a few hundred bytes */
#define US_PER_S 1000000ull

/* ---- value checks used by the table ---- */

static const char *check_ip(const char *v)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1)
        return NULL;
    return "is not an IP address";
}

static const char *check_ice_url(const char *v)
{
    static const char *const schemes[] = {"stun:", "stuns:", "turn:", "turns:"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(v, schemes[i], n) == 0 && v[n] != '\0')
            return NULL;
    }
    return "is not a STUN or TURN URL (like stun:stun.example.org:3478)";
}

/* Index order matches enum cg_log_level and enum cg_audio_codec. */
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const audio_codecs[] = {"aac", "opus", NULL};

#define FIELD(f) offsetof(cg_config, f)
#define MS(x) ((int64_t)(x)*1000)
#define SEC(x) ((int64_t)(x)*1000000)

static const cg_option options[] = {
    {.name = "config",
     .type = CG_OPT_STRING,
     .offset = FIELD(config),
     .metavar = "FILE",
     .help = "JSON config file whose keys are these option names; flags override it",
     .flags = CG_OPT_CLI_ONLY},
    {.name = "http-port",
     .type = CG_OPT_PORT,
     .offset = FIELD(http_port),
     .def = "8080",
     .metavar = "N",
     .help = "TCP port of the HTTP API, WHIP/WHEP, HLS and metrics"},
    {.name = "media-port",
     .type = CG_OPT_PORT,
     .offset = FIELD(media_port),
     .def = "8189",
     .metavar = "N",
     .help = "UDP port carrying all WebRTC media (ICE, DTLS, SRTP)"},
    {.name = "events-port",
     .type = CG_OPT_PORT,
     .offset = FIELD(events_port),
     .def = "8081",
     .metavar = "N",
     .help = "TCP port of the live events WebSocket, ws://HOST:N/events (wss with --tls-cert); "
             "0 turns it off",
     .flags = CG_OPT_ZERO_OFF},
    {.name = "events-queue",
     .type = CG_OPT_INT,
     .offset = FIELD(events_queue),
     .def = "256",
     .metavar = "N",
     .help = "events waiting per WebSocket client; a client that falls this far behind is "
             "disconnected (close 1008)",
     .min = 1,
     .max = 65536},
    {.name = "bind",
     .type = CG_OPT_STRING,
     .offset = FIELD(bind),
     .def = "0.0.0.0",
     .metavar = "ADDR",
     .help = "address to listen on",
     .min = 1,
     .check = check_ip},
    {.name = "data-dir",
     .type = CG_OPT_STRING,
     .offset = FIELD(data_dir),
     .def = "./data",
     .metavar = "DIR",
     .help = "recordings, clips and state (created if missing)",
     .min = 1},
    {.name = "public-ip",
     .type = CG_OPT_LIST,
     .offset = FIELD(public_ip),
     .metavar = "ADDR",
     .help = "host candidate address for SDP answers, repeatable (default: this machine's "
             "addresses; 127.0.0.1 on a loopback bind)",
     .check = check_ip},
    {.name = "publish-token",
     .type = CG_OPT_STRING,
     .offset = FIELD(publish_token),
     .metavar = "TOKEN",
     .help = "Bearer token required to publish (default: open publishing)"},
    {.name = "play-token",
     .type = CG_OPT_STRING,
     .offset = FIELD(play_token),
     .metavar = "TOKEN",
     .help = "Bearer token required to play (default: open playback)"},
    {.name = "tls-cert",
     .type = CG_OPT_STRING,
     .offset = FIELD(tls_cert),
     .metavar = "FILE",
     .help = "PEM certificate: the HTTP port speaks HTTPS (needs --tls-key)"},
    {.name = "tls-key",
     .type = CG_OPT_STRING,
     .offset = FIELD(tls_key),
     .metavar = "FILE",
     .help = "PEM private key of --tls-cert"},
    {.name = "ice-server",
     .type = CG_OPT_LIST,
     .offset = FIELD(ice_server),
     .metavar = "URL",
     .help = "STUN/TURN server offered to clients (stun:host:port), repeatable",
     .check = check_ice_url},
    {.name = "log-level",
     .type = CG_OPT_CHOICE,
     .offset = FIELD(log_level),
     .def = "info",
     .metavar = "LEVEL",
     .help = "error, warn, info or debug",
     .choices = log_levels},
    {.name = "max-sessions",
     .type = CG_OPT_INT,
     .offset = FIELD(max_sessions),
     .def = "100",
     .metavar = "N",
     .help = "most concurrent WHIP publishers",
     .min = 1,
     .max = 100000},
    {.name = "max-viewers",
     .type = CG_OPT_INT,
     .offset = FIELD(max_viewers),
     .def = "1000",
     .metavar = "N",
     .help = "most concurrent WHEP viewers",
     .min = 0,
     .max = 1000000},
    {.name = "max-viewers-per-stream",
     .type = CG_OPT_INT,
     .offset = FIELD(max_viewers_per_stream),
     .def = "0",
     .metavar = "N",
     .help = "most concurrent WHEP viewers of one stream (0: only --max-viewers applies)",
     .min = 0,
     .max = 1000000},
    {.name = "gop-cache",
     .type = CG_OPT_BOOL,
     .offset = FIELD(gop_cache),
     .def = "true",
     .metavar = "BOOL",
     .help = "WHEP: a joining viewer gets the current GOP at once instead of waiting for the "
             "next keyframe"},
    {.name = "max-body",
     .type = CG_OPT_SIZE,
     .offset = FIELD(max_body),
     .def = "256KiB",
     .metavar = "BYTES",
     .help = "largest HTTP request body accepted (256k, 1M, ...)",
     .min = 1024,
     .max = (int64_t)64 << 20},
    {.name = "segment-duration",
     .type = CG_OPT_DURATION,
     .offset = FIELD(segment_duration_us),
     .def = "2s",
     .metavar = "DUR",
     .help = "target HLS segment duration",
     .min = MS(500),
     .max = SEC(60)},
    {.name = "live-window",
     .type = CG_OPT_INT,
     .offset = FIELD(live_window),
     .def = "6",
     .metavar = "N",
     .help = "segments in the live playlist",
     .min = 2,
     .max = 1000},
    {.name = "preview-cap",
     .type = CG_OPT_DURATION,
     .offset = FIELD(preview_cap_us),
     .def = "10m",
     .metavar = "DUR",
     .help = "longest ?duration= preview window",
     .min = SEC(1),
     .max = SEC(24 * 3600)},
    {.name = "retention",
     .type = CG_OPT_RETENTION,
     .offset = FIELD(retention_us),
     .def = "forever",
     .metavar = "WHEN",
     .help = "how long recordings are kept: forever, live (only the live window) or <N>h"},
    {.name = "audio-codec",
     .type = CG_OPT_CHOICE,
     .offset = FIELD(audio_codec),
     .def = "aac",
     .metavar = "CODEC",
     .help = "HLS audio: aac (transcoded from Opus) or opus",
     .choices = audio_codecs},
    {.name = "reconnect-grace",
     .type = CG_OPT_DURATION,
     .offset = FIELD(reconnect_grace_us),
     .def = "10s",
     .metavar = "DUR",
     .help = "how long a dropped publisher may come back into the same broadcast",
     .min = 0,
     .max = SEC(3600)},
    {.name = "max-clip-duration",
     .type = CG_OPT_DURATION,
     .offset = FIELD(max_clip_duration_us),
     .def = "10m",
     .metavar = "DUR",
     .help = "longest clip that may be cut",
     .min = SEC(1),
     .max = SEC(24 * 3600)},
    {.name = "dump-dir",
     .type = CG_OPT_STRING,
     .offset = FIELD(dump_dir),
     .metavar = "DIR",
     .help = "write depacketized media here for diagnostics (default: off)"},
    {.name = "consent-timeout",
     .type = CG_OPT_DURATION,
     .offset = FIELD(consent_timeout_us),
     .def = "30s",
     .metavar = "DUR",
     .help = "close a WebRTC session after this long without ICE consent",
     .min = SEC(1),
     .max = SEC(600)},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

const cg_option *cg_config_options(size_t *n)
{
    if (n)
        *n = N_OPTIONS;
    return options;
}

static const cg_option *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* ---- number parsers ---- */

static int peek(const cg_rd *r)
{
    return cg_rd_left(r) ? cg_rd_cur(r)[0] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Reads one or more digits; CG_EINVAL if none, CG_ERANGE on overflow. */
static int rd_uint(cg_rd *r, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    uint8_t c;
    while (is_digit(peek(r))) {
        cg_rd_u8(r, &c);
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
            return CG_ERANGE;
        n++;
    }
    if (n == 0)
        return CG_EINVAL;
    *out = v;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static int find_unit(const struct unit *units, size_t n, const cg_rd *r, uint64_t *mult)
{
    size_t left = cg_rd_left(r);
    for (size_t i = 0; i < n; i++)
        if (strlen(units[i].name) == left && memcmp(units[i].name, cg_rd_cur(r), left) == 0) {
            *mult = units[i].mult;
            return 0;
        }
    return CG_EINVAL;
}

int cg_parse_duration_us(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"", US_PER_S}, {"s", US_PER_S},      {"ms", 1000},
        {"us", 1},      {"m", 60 * US_PER_S}, {"h", 3600 * US_PER_S},
    };
    if (!s || !out)
        return CG_EINVAL;
    cg_rd r;
    cg_rd_init(&r, s, strlen(s));
    uint64_t whole, frac = 0, frac_den = 1;
    int rc = rd_uint(&r, &whole);
    if (rc)
        return rc;
    if (peek(&r) == '.') {
        uint8_t c;
        cg_rd_u8(&r, &c);
        if (!is_digit(peek(&r)))
            return CG_EINVAL;
        /* Nine digits are below a microsecond even in hours; the rest are
         * read and dropped so "0.1000000000001" is still valid. */
        while (is_digit(peek(&r))) {
            cg_rd_u8(&r, &c);
            if (frac_den < 1000000000ull) {
                frac = frac * 10 + (uint64_t)(c - '0');
                frac_den *= 10;
            }
        }
    }
    uint64_t mult;
    if (find_unit(units, sizeof(units) / sizeof(units[0]), &r, &mult))
        return CG_EINVAL;
    uint64_t v;
    /* frac < 1e9 and mult <= 3.6e9, so frac * mult < 2^64. */
    if (__builtin_mul_overflow(whole, mult, &v) ||
        __builtin_add_overflow(v, frac * mult / frac_den, &v))
        return CG_ERANGE;
    *out = v;
    return 0;
}

int cg_parse_size(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"", 1},         {"k", 1u << 10},   {"K", 1u << 10}, {"KiB", 1u << 10},
        {"M", 1u << 20}, {"MiB", 1u << 20}, {"G", 1u << 30}, {"GiB", 1u << 30},
    };
    if (!s || !out)
        return CG_EINVAL;
    cg_rd r;
    cg_rd_init(&r, s, strlen(s));
    uint64_t v, mult;
    int rc = rd_uint(&r, &v);
    if (rc)
        return rc;
    if (find_unit(units, sizeof(units) / sizeof(units[0]), &r, &mult))
        return CG_EINVAL;
    if (__builtin_mul_overflow(v, mult, &v))
        return CG_ERANGE;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    cg_rd r;
    cg_rd_init(&r, s, strlen(s));
    uint64_t v;
    int rc = rd_uint(&r, &v);
    if (rc == 0 && cg_rd_left(&r))
        rc = CG_EINVAL;
    if (rc == 0 && v > INT64_MAX)
        rc = CG_ERANGE;
    if (rc == 0)
        *out = (int64_t)v;
    return rc;
}

static int parse_retention(const char *s, uint64_t *out)
{
    if (strcmp(s, "forever") == 0) {
        *out = CG_RETENTION_FOREVER;
        return 0;
    }
    if (strcmp(s, "live") == 0) {
        *out = CG_RETENTION_LIVE;
        return 0;
    }
    cg_rd r;
    cg_rd_init(&r, s, strlen(s));
    uint64_t hours;
    uint8_t c;
    if (rd_uint(&r, &hours) || cg_rd_u8(&r, &c) || c != 'h' || cg_rd_left(&r) || hours == 0 ||
        hours > 24 * 365 * 100)
        return CG_EINVAL;
    *out = hours * 3600 * US_PER_S;
    return 0;
}

/* "1h", "10m", "2s", "500ms", "250us": the shortest exact spelling. */
static void fmt_duration(char *buf, size_t n, uint64_t us)
{
    static const struct unit units[] = {
        {"h", 3600 * US_PER_S},
        {"m", 60 * US_PER_S},
        {"s", US_PER_S},
        {"ms", 1000},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (us && us % units[i].mult == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(us / units[i].mult), units[i].name);
            return;
        }
    snprintf(buf, n, "%lluus", (unsigned long long)us);
}

static void fmt_size(char *buf, size_t n, uint64_t v)
{
    if (v && v % (1u << 20) == 0)
        snprintf(buf, n, "%lluMiB", (unsigned long long)(v >> 20));
    else if (v && v % (1u << 10) == 0)
        snprintf(buf, n, "%lluKiB", (unsigned long long)(v >> 10));
    else
        snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* ---- setting one value ---- */

static int list_append(cg_strlist *l, const char *v)
{
    char *copy = strdup(v);
    char **nv = copy ? realloc(l->v, (l->n + 1) * sizeof(*nv)) : NULL;
    if (!nv) {
        free(copy);
        return CG_ENOMEM;
    }
    nv[l->n++] = copy;
    l->v = nv;
    return 0;
}

static void list_clear(cg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool has_range(const cg_option *o)
{
    return o->max > o->min;
}

/* Parses text v for option o into cfg. On CG_EINVAL, msg holds a phrase
 * about the value (the caller prefixes where it came from). */
static int set_value(cg_config *cfg, const cg_option *o, const char *v, char *msg, size_t n)
{
    void *field = (char *)cfg + o->offset;
    int64_t iv = 0;
    uint64_t uv = 0;
    int rc;
    char lo[32], hi[32];

    switch (o->type) {
    case CG_OPT_PORT: {
        int64_t low = (o->flags & CG_OPT_ZERO_OFF) ? 0 : 1;
        if (parse_int(v, &iv) || iv < low || iv > 65535) {
            snprintf(msg, n, "\"%.64s\" is not a port (%d-65535)", v, (int)low);
            return CG_EINVAL;
        }
        *(int *)field = (int)iv;
        return 0;
    }
    case CG_OPT_INT:
        rc = parse_int(v, &iv);
        if (rc == CG_EINVAL) {
            snprintf(msg, n, "\"%.64s\" is not a whole number", v);
            return CG_EINVAL;
        }
        if (rc || (has_range(o) && (iv < o->min || iv > o->max))) {
            snprintf(msg, n, "\"%.64s\" is out of range (%lld-%lld)", v, (long long)o->min,
                     (long long)o->max);
            return CG_EINVAL;
        }
        *(int *)field = (int)iv;
        return 0;
    case CG_OPT_DURATION:
        rc = cg_parse_duration_us(v, &uv);
        if (rc == CG_EINVAL) {
            snprintf(msg, n, "\"%.64s\" is not a duration (like 2, 2.5, 500ms, 5m, 1h)", v);
            return CG_EINVAL;
        }
        if (rc || (has_range(o) && (uv < (uint64_t)o->min || uv > (uint64_t)o->max))) {
            fmt_duration(lo, sizeof(lo), (uint64_t)o->min);
            fmt_duration(hi, sizeof(hi), (uint64_t)o->max);
            snprintf(msg, n, "\"%.64s\" is out of range (%s-%s)", v, o->min ? lo : "0", hi);
            return CG_EINVAL;
        }
        *(uint64_t *)field = uv;
        return 0;
    case CG_OPT_SIZE:
        rc = cg_parse_size(v, &uv);
        if (rc == CG_EINVAL) {
            snprintf(msg, n, "\"%.64s\" is not a size in bytes (like 262144, 256k, 1M)", v);
            return CG_EINVAL;
        }
        if (rc || (has_range(o) && (uv < (uint64_t)o->min || uv > (uint64_t)o->max))) {
            fmt_size(lo, sizeof(lo), (uint64_t)o->min);
            fmt_size(hi, sizeof(hi), (uint64_t)o->max);
            snprintf(msg, n, "\"%.64s\" is out of range (%s-%s)", v, lo, hi);
            return CG_EINVAL;
        }
        *(uint64_t *)field = uv;
        return 0;
    case CG_OPT_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
            *(bool *)field = true;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
            *(bool *)field = false;
        } else {
            snprintf(msg, n, "\"%.64s\" is not true or false", v);
            return CG_EINVAL;
        }
        return 0;
    case CG_OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(v, o->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        {
            size_t off = (size_t)snprintf(msg, n, "\"%.64s\" is not one of", v);
            for (int i = 0; o->choices[i] && off < n; i++)
                off += (size_t)snprintf(msg + off, n - off, "%s %s", i ? "," : ":", o->choices[i]);
        }
        return CG_EINVAL;
    case CG_OPT_RETENTION:
        if (parse_retention(v, &uv)) {
            snprintf(msg, n, "\"%.64s\" is not forever, live or a number of hours like 48h", v);
            return CG_EINVAL;
        }
        *(uint64_t *)field = uv;
        return 0;
    case CG_OPT_STRING:
    case CG_OPT_LIST: {
        const char *why = NULL;
        if ((int64_t)strlen(v) < o->min)
            why = "must not be empty";
        else if (o->check && *v)
            why = o->check(v);
        if (why) {
            if (*v)
                snprintf(msg, n, "\"%.64s\" %s", v, why);
            else
                snprintf(msg, n, "%s", why);
            return CG_EINVAL;
        }
        if (o->type == CG_OPT_LIST)
            return *v ? list_append((cg_strlist *)field, v) : 0;
        char **sp = (char **)field;
        char *copy = NULL;
        /* An empty value unsets an optional string (e.g. publish-token ""). */
        if (*v || o->def) {
            copy = strdup(v);
            if (!copy)
                return CG_ENOMEM;
        }
        free(*sp);
        *sp = copy;
        return 0;
    }
    }
    return CG_EINVAL;
}

static void clear_field(cg_config *cfg, const cg_option *o)
{
    void *field = (char *)cfg + o->offset;
    if (o->type == CG_OPT_STRING) {
        free(*(char **)field);
        *(char **)field = NULL;
    } else if (o->type == CG_OPT_LIST) {
        list_clear((cg_strlist *)field);
    }
}

int cg_config_defaults(cg_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char msg[160];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!options[i].def)
            continue;
        int rc = set_value(cfg, &options[i], options[i].def, msg, sizeof(msg));
        if (rc) {
            cg_config_clear(cfg);
            return rc;
        }
    }
    return 0;
}

void cg_config_clear(cg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_OPTIONS; i++)
        clear_field(cfg, &options[i]);
    memset(cfg, 0, sizeof(*cfg));
}

int cg_config_set(cg_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const cg_option *o = find_option(name, strlen(name));
    if (!o) {
        snprintf(err, errlen, "unknown option \"--%s\"", name);
        return CG_ENOTFOUND;
    }
    char msg[256];
    int rc = set_value(cfg, o, value, msg, sizeof(msg));
    if (rc == CG_EINVAL)
        snprintf(err, errlen, "--%s: %s", o->name, msg);
    return rc;
}

/* ---- command line ---- */

/* Applies argv to cfg. A list given on the command line replaces the list
 * from the file (first occurrence clears, later ones append). */
static int apply_args(cg_config *cfg, int argc, char *const argv[], int *action, char *err,
                      size_t errlen)
{
    bool seen[N_OPTIONS] = {false};
    char msg[256];
    *action = CG_CONFIG_RUN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = CG_CONFIG_HELP;
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            *action = CG_CONFIG_VERSION;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err, errlen,
                     "unexpected argument \"%.64s\" (options start with --; see --help)", a);
            return CG_EINVAL;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const cg_option *o = find_option(name, name_len);
        if (!o) {
            snprintf(err, errlen, "unknown option \"--%.*s\" (see --help)",
                     (int)(name_len > 64 ? 64 : name_len), name);
            return CG_EINVAL;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == CG_OPT_BOOL) {
            v = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            v = argv[++i];
        } else {
            snprintf(err, errlen, "--%s needs a value (--%s %s)", o->name, o->name, o->metavar);
            return CG_EINVAL;
        }
        size_t idx = (size_t)(o - options);
        if (o->type == CG_OPT_LIST && !seen[idx])
            clear_field(cfg, o);
        seen[idx] = true;
        int rc = set_value(cfg, o, v, msg, sizeof(msg));
        if (rc == CG_EINVAL)
            snprintf(err, errlen, "--%s: %s", o->name, msg);
        else if (rc)
            snprintf(err, errlen, "--%s: %s", o->name, cg_strerror(rc));
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- JSON config file ---- */

/* Finds where a top-level key is written, for error messages: jansson does
 * not keep positions of parsed keys. The text already parsed as JSON, so a
 * small scan that tracks strings and nesting depth is enough. Keys with
 * escapes are compared raw and may not be found (no position then). */
static bool find_key_pos(const char *text, size_t len, const char *key, int *line, int *col)
{
    cg_rd r;
    cg_rd_init(&r, text, len);
    int depth = 0, ln = 1, cl = 0;
    bool expect_key = false;
    uint8_t c;
    size_t klen = strlen(key);
    while (cg_rd_u8(&r, &c) == 0) {
        if ((c & 0xc0) != 0x80) /* count characters, not UTF-8 continuation bytes */
            cl++;
        if (c == '\n') {
            ln++;
            cl = 0;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            expect_key = depth == 1 && c == '{';
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (c == '"') {
            int start_col = cl;
            size_t start = r.pos;
            bool esc = false;
            /* Strings never hold raw newlines in valid JSON. */
            while (cg_rd_u8(&r, &c) == 0) {
                if ((c & 0xc0) != 0x80)
                    cl++;
                if (esc)
                    esc = false;
                else if (c == '\\')
                    esc = true;
                else if (c == '"')
                    break;
            }
            size_t slen = r.pos - start - 1;
            if (expect_key && slen == klen && memcmp(text + start, key, klen) == 0) {
                *line = ln;
                *col = start_col;
                return true;
            }
            expect_key = false;
        }
    }
    return false;
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "a whole number";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* Turns a JSON scalar into the command-line text of the same value, so the
 * file and the flags share one parser. NULL: wrong JSON type for o. */
static const char *json_text(const cg_option *o, const json_t *j, char *buf, size_t n)
{
    bool num_ok = o->type == CG_OPT_INT || o->type == CG_OPT_PORT || o->type == CG_OPT_DURATION ||
                  o->type == CG_OPT_SIZE;
    bool str_ok = o->type != CG_OPT_INT && o->type != CG_OPT_PORT && o->type != CG_OPT_BOOL;
    if (json_is_integer(j) && num_ok) {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return buf;
    }
    if (json_is_real(j) && o->type == CG_OPT_DURATION) {
        snprintf(buf, n, "%.9f", json_real_value(j));
        return buf;
    }
    if (json_is_boolean(j) && o->type == CG_OPT_BOOL)
        return json_is_true(j) ? "true" : "false";
    if (json_is_string(j) && str_ok)
        return json_string_value(j);
    return NULL;
}

static const char *expected_type(const cg_option *o)
{
    switch (o->type) {
    case CG_OPT_INT:
    case CG_OPT_PORT:
        return "a whole number";
    case CG_OPT_BOOL:
        return "true or false";
    case CG_OPT_LIST:
        return "an array of strings";
    case CG_OPT_DURATION:
        return "a number of seconds or a string like \"500ms\"";
    case CG_OPT_SIZE:
        return "a number of bytes or a string like \"256k\"";
    default:
        return "a string";
    }
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen,
                     const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read \"%s\": %s", what, path, strerror(errno));
        return CG_EIO;
    }
    cg_dbuf d;
    cg_dbuf_init(&d, CFG_FILE_MAX);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cg_dbuf_add(&d, chunk, n);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: cannot read \"%s\": %s", what, path, strerror(saved));
        cg_dbuf_free(&d);
        return CG_EIO;
    }
    if (cg_dbuf_err(&d)) {
        snprintf(err, errlen, "%s: \"%s\" is larger than %u bytes", what, path, CFG_FILE_MAX);
        cg_dbuf_free(&d);
        return CG_EINVAL;
    }
    *out = cg_dbuf_take(&d, len);
    return *out ? 0 : CG_ENOMEM;
}

static int apply_json_key(cg_config *cfg, const char *path, const char *text, size_t len,
                          const char *key, json_t *val, char *err, size_t errlen)
{
    char where[512];
    int line, col;
    if (find_key_pos(text, len, key, &line, &col))
        snprintf(where, sizeof(where), "%s:%d:%d", path, line, col);
    else
        snprintf(where, sizeof(where), "%s", path);

    const cg_option *o = find_option(key, strlen(key));
    if (!o || (o->flags & CG_OPT_CLI_ONLY)) {
        snprintf(err, errlen, "%s: unknown key \"%.64s\"%s", where, key,
                 o ? " (only valid on the command line)" : "");
        return CG_EINVAL;
    }
    char buf[64], msg[256];
    int rc = 0;
    if (o->type == CG_OPT_LIST) {
        clear_field(cfg, o); /* the file's list replaces the default */
        if (json_is_string(val)) {
            rc = set_value(cfg, o, json_string_value(val), msg, sizeof(msg));
        } else if (json_is_array(val)) {
            size_t i;
            json_t *item;
            json_array_foreach(val, i, item)
            {
                if (!json_is_string(item)) {
                    snprintf(err, errlen, "%s: \"%s\" must be %s, but item %zu is %s", where, key,
                             expected_type(o), i, json_type_name(item));
                    return CG_EINVAL;
                }
                rc = set_value(cfg, o, json_string_value(item), msg, sizeof(msg));
                if (rc)
                    break;
            }
        } else {
            snprintf(err, errlen, "%s: \"%s\" must be %s, not %s", where, key, expected_type(o),
                     json_type_name(val));
            return CG_EINVAL;
        }
    } else {
        const char *v = json_text(o, val, buf, sizeof(buf));
        if (!v) {
            snprintf(err, errlen, "%s: \"%s\" must be %s, not %s", where, key, expected_type(o),
                     json_type_name(val));
            return CG_EINVAL;
        }
        if (json_is_string(val) && strlen(v) != json_string_length(val)) {
            snprintf(err, errlen, "%s: \"%s\" must not contain a NUL character", where, key);
            return CG_EINVAL;
        }
        rc = set_value(cfg, o, v, msg, sizeof(msg));
    }
    if (rc == CG_EINVAL)
        snprintf(err, errlen, "%s: %s: %s", where, key, msg);
    else if (rc)
        snprintf(err, errlen, "%s: %s: %s", where, key, cg_strerror(rc));
    return rc;
}

static int apply_file(cg_config *cfg, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err, errlen, "--config");
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: not valid JSON: %s", path, jerr.line, jerr.column,
                 jerr.text);
        rc = CG_EPROTO;
    } else if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: must hold a JSON object like {\"http-port\": 8080}, not %s",
                 path, json_type_name(root));
        rc = CG_EINVAL;
    } else {
        const char *key;
        json_t *val;
        /* jansson iterates in file order, so the first mistake is reported. */
        json_object_foreach(root, key, val)
        {
            rc = apply_json_key(cfg, path, text, len, key, val, err, errlen);
            if (rc)
                break;
        }
    }
    json_decref(root);
    free(text);
    return rc;
}

/* Checks what only makes sense for the whole configuration. */
static int validate(const cg_config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert != !cfg->tls_key) {
        snprintf(err, errlen, "%s needs %s as well (HTTPS takes a certificate and its key)",
                 cfg->tls_cert ? "--tls-cert" : "--tls-key",
                 cfg->tls_cert ? "--tls-key" : "--tls-cert");
        return CG_EINVAL;
    }
    const char *files[2][2] = {{"--tls-cert", cfg->tls_cert}, {"--tls-key", cfg->tls_key}};
    for (int i = 0; i < 2; i++) {
        if (!files[i][1])
            continue;
        char *text = NULL;
        size_t len = 0;
        int rc = read_file(files[i][1], &text, &len, err, errlen, files[i][0]);
        if (rc)
            return rc;
        bool pem = strstr(text, "-----BEGIN ") != NULL;
        free(text);
        if (!pem) {
            snprintf(err, errlen, "%s: \"%s\" is not a PEM file (no -----BEGIN line)", files[i][0],
                     files[i][1]);
            return CG_EINVAL;
        }
    }
    return 0;
}

int cg_config_load(cg_config *cfg, int argc, char *const argv[], int *action, char *err,
                   size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    /* First pass: find --config, --help, --version, and report command-line
     * mistakes before the file is read. */
    int rc = cg_config_defaults(cfg);
    if (rc == 0)
        rc = apply_args(cfg, argc, argv, action, err, errlen);
    if (rc || *action != CG_CONFIG_RUN) {
        if (rc)
            cg_config_clear(cfg);
        return rc;
    }
    char *path = cfg->config ? strdup(cfg->config) : NULL;
    if (cfg->config && !path) {
        cg_config_clear(cfg);
        return CG_ENOMEM;
    }
    cg_config_clear(cfg);
    rc = cg_config_defaults(cfg);
    if (rc == 0 && path)
        rc = apply_file(cfg, path, err, errlen);
    free(path);
    if (rc == 0)
        rc = apply_args(cfg, argc, argv, action, err, errlen);
    if (rc == 0)
        rc = validate(cfg, err, errlen);
    if (rc == CG_ENOMEM && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    if (rc)
        cg_config_clear(cfg);
    return rc;
}

/* ---- --help ---- */

static void describe_default(const cg_option *o, char *buf, size_t n)
{
    buf[0] = '\0';
    if (o->def)
        snprintf(buf, n, " (default: %s)", o->def);
}

int cg_config_usage(cg_dbuf *out, const char *prog)
{
    cg_dbuf_printf(out,
                   "Usage: %s [OPTIONS]\n"
                   "\n"
                   "Live-streaming gateway: WHIP ingest, WHEP and HLS playback, instant clips.\n"
                   "Every option is also a key of the --config JSON file (same spelling);\n"
                   "command-line flags override the file, which overrides the defaults.\n"
                   "Durations: 2, 2.5, 2s, 500ms, 5m, 1h. Sizes: 262144, 256k, 1M.\n"
                   "\n"
                   "Options:\n",
                   prog);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cg_option *o = &options[i];
        char left[64], def[96];
        snprintf(left, sizeof(left), "--%s %s", o->name, o->type == CG_OPT_BOOL ? "" : o->metavar);
        describe_default(o, def, sizeof(def));
        cg_dbuf_printf(out, "  %-27s %s%s\n", left, o->help, def);
    }
    cg_dbuf_printf(out, "  %-27s %s\n  %-27s %s\n", "--help", "print this help and exit",
                   "--version", "print the version and exit");
    cg_dbuf_adds(out,
                 "\nExit status: 0 after SIGTERM or SIGINT; 2 if the configuration is wrong or\n"
                 "the server cannot start with it (one line on stderr says why).\n");
    return cg_dbuf_err(out);
}

/* ---- public addresses ---- */

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

static bool is_wildcard(const char *addr)
{
    return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

int cg_config_default_public_ips(cg_config *cfg)
{
    if (cfg->public_ip.n)
        return 0;
    const char *bind = cfg->bind ? cfg->bind : "0.0.0.0";
    if (is_loopback(bind))
        return list_append(&cfg->public_ip, "127.0.0.1");
    if (!is_wildcard(bind))
        return list_append(&cfg->public_ip, bind);
    struct ifaddrs *ifs = NULL;
    int rc = 0;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i && rc == 0; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
                (i->ifa_flags & IFF_LOOPBACK))
                continue;
            char buf[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
            if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
                rc = list_append(&cfg->public_ip, buf);
        }
        freeifaddrs(ifs);
    }
    if (rc == 0 && cfg->public_ip.n == 0)
        rc = list_append(&cfg->public_ip, "127.0.0.1");
    return rc;
}
