/* Logging: one JSON object per line on stderr. */
#ifndef PKI_LOG_H
#define PKI_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the service name printed on every line ("gateway", "worker", ...). */
void log_init(const char *service);
void log_set_level(enum log_level min);
/* request_id may be NULL. Thread-safe: one write(2) per line. */
void log_msg(enum log_level lvl, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
