/* clipgate configuration.
 *
 * One const option table (cg_config_options()) drives the command line, the
 * JSON config file and --help, so an option added to the table is parsed,
 * validated and documented everywhere at once. Precedence is
 * defaults < config file < command line: cg_config_load() scans the
 * command line once to find --config (and to report command-line mistakes
 * before touching the file), applies the file, then applies the command line
 * again on top.
 *
 * Errors are one line of text for the user (no program-name prefix, no
 * newline) naming the option or file position and saying what is wrong:
 *   --http-port: "70000" is not a port (1-65535)
 *   config.json:3:3: unknown key "htp-port"
 *
 * cg_config is plain data read by every module: its body is public. Strings
 * and lists are owned by the struct and freed by cg_config_clear(). */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A list option (repeatable on the command line, an array in JSON).
 * Owned by the config: v[0..n-1] are heap strings. */
typedef struct cg_strlist {
    char **v;
    size_t n;
} cg_strlist;

enum cg_audio_codec {
    CG_AUDIO_AAC = 0,
    CG_AUDIO_OPUS = 1,
};

/* retention_us values besides a number of microseconds. */
#define CG_RETENTION_LIVE 0u            /* keep only the live window */
#define CG_RETENTION_FOREVER UINT64_MAX /* never delete recordings */

typedef struct cg_config {
    char *config; /* path of the JSON file given with --config, or NULL */
    int http_port;
    int media_port;
    int events_port;  /* 0: no events server */
    int events_queue; /* messages waiting per events client */
    char *bind;       /* listen address of HTTP (and media) */
    char *data_dir;
    cg_strlist public_ip; /* host candidates; see cg_config_default_public_ips() */
    char *publish_token;  /* NULL: publishing is open */
    char *play_token;     /* NULL: playback is open */
    char *tls_cert;       /* PEM paths; both set or both NULL */
    char *tls_key;
    cg_strlist ice_server; /* "stun:host:port", "turn:..." */
    int log_level;         /* enum cg_log_level */
    int max_sessions;
    int max_viewers;
    int max_viewers_per_stream; /* 0: only max_viewers bounds a stream */
    bool gop_cache;             /* WHEP: replay the current GOP to joining viewers */
    uint64_t max_body; /* bytes: HTTP request body limit */
    uint64_t segment_duration_us;
    int live_window;         /* segments in the live playlist */
    uint64_t preview_cap_us; /* longest ?duration= preview window */
    uint64_t retention_us;   /* CG_RETENTION_LIVE, CG_RETENTION_FOREVER or N hours */
    int audio_codec;         /* enum cg_audio_codec */
    uint64_t reconnect_grace_us;
    uint64_t max_clip_duration_us;
    char *dump_dir; /* NULL: no diagnostics dump */
    uint64_t consent_timeout_us;
} cg_config;

enum cg_opt_type {
    CG_OPT_INT,      /* int; min/max bound the value */
    CG_OPT_PORT,     /* int in 1..65535 */
    CG_OPT_STRING,   /* char *; min = minimum length; "" means unset when def is NULL */
    CG_OPT_BOOL,     /* bool; bare --name means true */
    CG_OPT_LIST,     /* cg_strlist; repeatable */
    CG_OPT_DURATION, /* uint64_t microseconds, cg_parse_duration_us() syntax */
    CG_OPT_SIZE,     /* uint64_t bytes, cg_parse_size() syntax */
    CG_OPT_CHOICE,   /* int index into choices */
    CG_OPT_RETENTION /* uint64_t: "forever", "live" or "<N>h" */
};

enum cg_opt_flags {
    CG_OPT_CLI_ONLY = 1, /* not accepted as a config-file key */
    CG_OPT_ZERO_OFF = 2, /* CG_OPT_PORT: 0 is accepted and turns the service off */
};

typedef struct cg_option {
    const char *name;    /* "--name" on the command line, "name" in JSON */
    int type;            /* enum cg_opt_type */
    size_t offset;       /* of the field in cg_config */
    const char *def;     /* default in command-line syntax; NULL: unset */
    const char *metavar; /* shown in --help: "N", "DIR", ... */
    const char *help;
    int64_t min, max;           /* range (int, duration in us, size in bytes); 0,0: none */
    const char *const *choices; /* CG_OPT_CHOICE: NULL-terminated */
    /* Extra check for string and list values: returns NULL if v is fine,
     * else a static phrase completing "\"v\" ..." (e.g. "is not an IP address"). */
    const char *(*check)(const char *v);
    unsigned flags; /* enum cg_opt_flags */
} cg_option;

/* Gives the option table (static, never freed) and its length. */
const cg_option *cg_config_options(size_t *n);

/* Fills cfg with every default. cfg need not be initialized.
 * Returns 0 or CG_ENOMEM. */
int cg_config_defaults(cg_config *cfg);
/* Frees what cfg owns and zeroes it. Accepts a zeroed or half-filled cfg. */
void cg_config_clear(cg_config *cfg);

enum cg_config_action {
    CG_CONFIG_RUN = 0,
    CG_CONFIG_HELP = 1,    /* --help or -h: print cg_config_usage(), exit 0 */
    CG_CONFIG_VERSION = 2, /* --version or -V: print the version, exit 0 */
};

/* Builds the configuration from defaults, the --config file and argv
 * (argv[0] is the program name and is skipped; argv is borrowed).
 * cfg need not be initialized; on success it owns its strings, on error it
 * is cleared. *action says what the user asked for. On error, err receives
 * one line naming the problem (truncated to errlen).
 * Returns 0, CG_EINVAL (unknown option, missing or bad value, unknown key or
 * wrong type in the file), CG_EPROTO (file is not valid JSON), CG_EIO (file
 * or TLS file unreadable) or CG_ENOMEM. */
int cg_config_load(cg_config *cfg, int argc, char *const argv[], int *action, char *err,
                   size_t errlen);

/* Sets one option by name from text, with command-line syntax and
 * validation (lists append). name has no leading dashes; value is borrowed
 * and copied. Returns 0, CG_ENOTFOUND (no such option), CG_EINVAL (bad
 * value; err says why, prefixed with "--name: ") or CG_ENOMEM. */
int cg_config_set(cg_config *cfg, const char *name, const char *value, char *err, size_t errlen);

/* Appends the --help text, generated from the table, to out.
 * prog is borrowed. Returns 0 or the dbuf's error. */
int cg_config_usage(cg_dbuf *out, const char *prog);

/* When public_ip is empty, fills it: with a loopback bind address, with
 * "127.0.0.1"; otherwise with the machine's non-loopback IPv4 addresses
 * (getifaddrs), or "127.0.0.1" if it has none. Returns 0 or CG_ENOMEM. */
int cg_config_default_public_ips(cg_config *cfg);

/* Parses a duration: a non-negative decimal number with an optional unit,
 * "2", "2.5", "2s", "500ms", "250us", "5m", "1h" (no unit: seconds). Digits
 * beyond microsecond precision are truncated. Used by the config and by the
 * clip and preview query parameters (time=600.5, duration=5m).
 * Returns 0, CG_EINVAL (syntax) or CG_ERANGE (does not fit in 64 bits). */
int cg_parse_duration_us(const char *s, uint64_t *out);

/* Parses a byte size: digits with an optional binary suffix k/K/KiB, M/MiB,
 * G/GiB ("262144", "256k", "1MiB"). Returns 0, CG_EINVAL or CG_ERANGE. */
int cg_parse_size(const char *s, uint64_t *out);

#endif
