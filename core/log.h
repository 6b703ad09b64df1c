/* Logging: one call for the whole program, carrying the stream or session id
 * so that one broadcast's lines can be grepped out of a busy log.
 * Thread-safe; writes one line per call to stderr. Sans-I/O protocol cores
 * do not log: they return error codes and their caller logs. */
#ifndef CG_LOG_H
#define CG_LOG_H

enum cg_log_level {
    CG_LOG_ERROR = 0,
    CG_LOG_WARN = 1,
    CG_LOG_INFO = 2,
    CG_LOG_DEBUG = 3,
};

void cg_log_set_level(int level);
int cg_log_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int cg_log_level_parse(const char *s);

/* id: the stream, session or subsystem the line is about (may be NULL). */
void cg_log(int level, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define cg_error(id, ...) cg_log(CG_LOG_ERROR, (id), __VA_ARGS__)
#define cg_warn(id, ...) cg_log(CG_LOG_WARN, (id), __VA_ARGS__)
#define cg_info(id, ...) cg_log(CG_LOG_INFO, (id), __VA_ARGS__)
#define cg_debug(id, ...)                                                     \
    do {                                                                      \
        if (cg_log_level() >= CG_LOG_DEBUG)                                   \
            cg_log(CG_LOG_DEBUG, (id), __VA_ARGS__);                          \
    } while (0)

#endif
