/* Test helper: a plain socket HTTP/1.1 client for the HTTP unit tests.
 * Every request is written byte for byte, so odd paths and bodies reach
 * the server exactly as written; responses are read until the server
 * closes and split into status, head and body. The test sets g_port to
 * the server's loopback port before the first request. */
#ifndef CG_TEST_HTTP_CLIENT_H
#define CG_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cg_test.h"

static uint16_t g_port;

typedef struct res {
    int status;
    char head[16384];
    char *body;
    size_t body_len;
    char *raw;
} res;

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A hung server fails the test instead of hanging it. */
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        c += k;
        n -= (size_t)k;
    }
}

/* Reads until the server closes, then splits head and body. */
static void read_response(int fd, res *r)
{
    memset(r, 0, sizeof(*r));
    size_t cap = 1 << 16, len = 0;
    r->raw = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            r->raw = realloc(r->raw, cap + 1);
        }
        ssize_t k = recv(fd, r->raw + len, cap - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    r->raw[len] = '\0';
    close(fd);
    char *end = strstr(r->raw, "\r\n\r\n");
    if (!end)
        return;
    size_t hl = (size_t)(end - r->raw) + 2; /* keep the last CRLF */
    if (hl >= sizeof(r->head))
        hl = sizeof(r->head) - 1;
    memcpy(r->head, r->raw, hl);
    r->head[hl] = '\0';
    r->body = end + 4;
    r->body_len = len - (size_t)(r->body - r->raw);
    sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
}

/* Sends raw (a whole request head) and body, then reads the response. */
static void request(res *r, const char *raw, const void *body, size_t body_len)
{
    int fd = connect_server();
    if (fd < 0) {
        memset(r, 0, sizeof(*r));
        CHECK(0);
        return;
    }
    send_all(fd, raw, strlen(raw));
    if (body_len)
        send_all(fd, body, body_len);
    read_response(fd, r);
}

/* A bodiless request; extra holds more header lines, each ending in CRLF. */
static void get(res *r, const char *method, const char *target, const char *extra)
{
    char buf[65536 + 1024];
    snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
             method, target, extra ? extra : "");
    request(r, buf, NULL, 0);
}

static void res_free(res *r)
{
    free(r->raw);
    r->raw = NULL;
}

/* Value of the n-th header called name (case-insensitive), or "" if none. */
static const char *header_n(const res *r, const char *name, int n)
{
    static char value[4096];
    value[0] = '\0';
    size_t nl = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':' && n-- == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r");
            snprintf(value, sizeof(value), "%.*s", (int)vl, v);
            return value;
        }
        line = strstr(line, "\r\n");
    }
    return value;
}

static const char *header(const res *r, const char *name)
{
    return header_n(r, name, 0);
}

#endif
