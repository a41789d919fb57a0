/* The reference: libmosquitto publishing COUNT messages as fast as it can, in one thread.
 *
 * Usage: pub HOST PORT QOS COUNT INFLIGHT
 * Payloads look like the gateway's (~70 bytes of JSON), spread over 100 per-sensor topics.
 * At most INFLIGHT publishes are outstanding (as in the gateway); the network loop runs in this
 * thread (mosquitto_loop), so there is no locking between the publisher and the callbacks.
 * Timed from the first publish to the last PUBACK (QoS 1) or the last write (QoS 0).
 * Prints: "<count> <seconds> <cpu seconds>". Built by the bench at run time (gcc -lmosquitto).
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>

static int done = 0;
static int connected = 0;

static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)m; (void)u;
    connected = rc == 0 ? 1 : -1;
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
    (void)m; (void)u; (void)mid;
    done++;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
        + ru.ru_stime.tv_usec / 1e6;
}

static int pump(struct mosquitto *m, int timeout_ms) {
    int rc = mosquitto_loop(m, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "pub: network loop failed: %s\n", mosquitto_strerror(rc));
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: pub HOST PORT QOS COUNT INFLIGHT\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), qos = atoi(argv[3]), total = atoi(argv[4]);
    int window = atoi(argv[5]);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bench-c-pub", true, NULL);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_max_inflight_messages_set(m, window);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) return 1;
    while (connected == 0) pump(m, 100);
    if (connected < 0) return 1;
    char topic[64], payload[128];
    double t0 = now(), c0 = cpu();
    for (int i = 0; i < total; i++) {
        while (i - done >= window) pump(m, 100);
        snprintf(topic, sizeof topic, "bench/c/dev-%d/s%d", i % 10, i % 100);
        int n = snprintf(payload, sizeof payload,
                         "{\"value\":%.2f,\"unit\":\"C\",\"ts\":\"2026-11-29T21:00:00.000Z\","
                         "\"seq\":%d}", 20.0 + (i % 100) / 10.0, i);
        if (mosquitto_publish(m, NULL, topic, n, payload, qos, false) != MOSQ_ERR_SUCCESS) return 1;
        if (i % 64 == 63) pump(m, 0);
    }
    while (done < total) pump(m, 100);
    double t1 = now(), c1 = cpu();
    printf("%d %.6f %.6f\n", total, t1 - t0, c1 - c0);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
