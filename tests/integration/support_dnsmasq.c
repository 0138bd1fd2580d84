/*
 * support_dnsmasq.c - dnsmasq for the DNS tests; see support_dnsmasq.h.
 */
#include "support_dnsmasq.h"
#include "support_proc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_bind(int type, const char *addr, uint16_t port)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

uint16_t
xt_free_port(const char *addr)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int u = s_bind(SOCK_DGRAM, addr, 0);
        if (u < 0)
            return 0;
        struct sockaddr_in sin;
        socklen_t len = sizeof sin;
        getsockname(u, (struct sockaddr *)&sin, &len);
        uint16_t port = ntohs(sin.sin_port);
        int t = s_bind(SOCK_STREAM, addr, port);
        close(u);
        if (t >= 0) {
            close(t);
            return port;
        }
    }
    return 0;
}

size_t
xt_dns_question(uint8_t *buf, size_t size, uint16_t id, const char *name, uint16_t qtype)
{
    size_t n = 12;
    if (size < n + strlen(name) + 2 + 4)
        return 0;
    memset(buf, 0, 12);
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    buf[2] = 0x01; /* RD */
    buf[5] = 1;    /* QDCOUNT */
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63)
            return 0;
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t)(qtype >> 8);
    buf[n++] = (uint8_t)qtype;
    buf[n++] = 0;
    buf[n++] = 1; /* IN */
    return n;
}

int
xt_dns_parse_question(const uint8_t *msg, size_t len, char *name, size_t name_size, uint16_t *qtype)
{
    if (len < 12 || name_size == 0)
        return -1;
    size_t i = 12, o = 0;
    while (i < len && msg[i] != 0) {
        size_t l = msg[i++];
        if (l > 63 || i + l > len)
            return -1;
        if (o > 0 && o + 1 < name_size)
            name[o++] = '.';
        for (size_t k = 0; k < l && o + 1 < name_size; k++)
            name[o++] = (char)tolower(msg[i + k]);
        i += l;
    }
    name[o] = '\0';
    if (i + 5 > len)
        return -1;
    *qtype = (uint16_t)(msg[i + 1] << 8 | msg[i + 2]);
    return 0;
}

int
xt_dns_probe(const char *addr, uint16_t port, const char *name, int timeout_ms)
{
    int fd = s_bind(SOCK_DGRAM, "127.0.0.1", 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, addr, &to.sin_addr);
    uint8_t q[300], a[1500];
    size_t qlen = xt_dns_question(q, sizeof q, 0x4242, name, 1);
    int rcode = -1;
    int64_t end = s_now_ms() + timeout_ms;
    while (rcode < 0 && s_now_ms() < end) {
        sendto(fd, q, qlen, 0, (struct sockaddr *)&to, sizeof to);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            ssize_t n = recv(fd, a, sizeof a, 0);
            if (n >= 12 && a[0] == 0x42 && a[1] == 0x42)
                rcode = a[3] & 0x0f;
        }
    }
    close(fd);
    return rcode;
}

int
xt_dnsmasq_start(xt_dnsmasq_t *d, const char *addr, const char *records)
{
    memset(d, 0, sizeof *d);
    d->pid = -1;
    snprintf(d->dir, sizeof d->dir, "%s", xt_tmpdir());
    snprintf(d->conf, sizeof d->conf, "%s/dnsmasq.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/dnsmasq.log", d->dir);
    snprintf(d->addr, sizeof d->addr, "%s", addr);
    d->port = xt_free_port(addr);
    if (d->port == 0) {
        fprintf(stderr, "dnsmasq: no free port on %s\n", addr);
        return -1;
    }
    snprintf(d->server, sizeof d->server, "%s:%u", addr, (unsigned)d->port);
    FILE *f = fopen(d->conf, "w");
    if (!f) {
        perror(d->conf);
        return -1;
    }
    /* No upstream, no hosts file, no cache: every answer comes from the
     * records below and every query shows in the log. */
    fprintf(f, "no-resolv\nno-hosts\nno-poll\ncache-size=0\nlog-queries\n%s\n", records);
    fclose(f);
    char conf_arg[400], listen_arg[100], port_arg[40];
    snprintf(conf_arg, sizeof conf_arg, "--conf-file=%s", d->conf);
    snprintf(listen_arg, sizeof listen_arg, "--listen-address=%s", addr);
    snprintf(port_arg, sizeof port_arg, "--port=%u", (unsigned)d->port);
    char *argv[] = {XT_DNSMASQ_BIN, "--no-daemon",       "--log-facility=-", conf_arg, listen_arg,
                    port_arg,       "--bind-interfaces", "--pid-file=",      NULL};
    d->pid = xt_spawn(argv, d->log);
    if (d->pid < 0)
        return -1;
    if (xt_dns_probe(addr, d->port, "probe.invalid", 5000) < 0) {
        fprintf(stderr, "dnsmasq on %s did not answer; log %s\n", d->server, d->log);
        xt_dnsmasq_stop(d);
        return -1;
    }
    return 0;
}

int
xt_dnsmasq_stop(xt_dnsmasq_t *d)
{
    if (d->pid <= 0)
        return -1;
    int status = xt_stop(d->pid, 3000);
    d->pid = -1;
    return status == -1 ? -1 : 0;
}
