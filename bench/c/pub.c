/* The reference: libmosquitto publishing COUNT messages as fast as it can.
 *
 * Usage: pub HOST PORT QOS COUNT INFLIGHT
 * Payloads look like the gateway's (~70 bytes of JSON), spread over 100 per-sensor topics.
 * Timed from the first publish to the last PUBACK (QoS 1) or the last write (QoS 0).
 * Prints: "<count> <seconds> <cpu seconds>". Built by the bench at run time (gcc -lmosquitto).
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

static volatile int done = 0;
static int connected = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int total = 0;

static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)m; (void)u;
    pthread_mutex_lock(&lock);
    connected = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
    (void)m; (void)u; (void)mid;
    pthread_mutex_lock(&lock);
    done++;
    if (done >= total) pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
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

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: pub HOST PORT QOS COUNT INFLIGHT\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), qos = atoi(argv[3]), inflight = atoi(argv[5]);
    total = atoi(argv[4]);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bench-c-pub", true, NULL);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_max_inflight_messages_set(m, inflight);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) return 1;
    mosquitto_loop_start(m);
    pthread_mutex_lock(&lock);
    while (connected == 0) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    if (connected < 0) return 1;
    char topic[64], payload[128];
    double t0 = now(), c0 = cpu();
    for (int i = 0; i < total; i++) {
        snprintf(topic, sizeof topic, "bench/c/dev-%d/s%d", i % 10, i % 100);
        int n = snprintf(payload, sizeof payload,
                         "{\"value\":%.2f,\"unit\":\"C\",\"ts\":\"2026-11-29T21:00:00.000Z\","
                         "\"seq\":%d}", 20.0 + (i % 100) / 10.0, i);
        int rc;
        while ((rc = mosquitto_publish(m, NULL, topic, n, payload, qos, false))
               == MOSQ_ERR_OVERSIZE_PACKET) {}
        if (rc != MOSQ_ERR_SUCCESS) return 1;
    }
    pthread_mutex_lock(&lock);
    while (done < total) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    double t1 = now(), c1 = cpu();
    printf("%d %.6f %.6f\n", total, t1 - t0, c1 - c0);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
