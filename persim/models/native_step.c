/* PerSim's folded discrete-action step (persim/models/folded.py) as one fused CPU kernel.
 *
 * For member m, episode e and candidate c with state s [D] and action a:
 *     h       = ReLU(W1[m] [s; 1])                 W1 [M, H, D+1], bias as the last input column
 *     out[c]  = s + (W_eff[m,e] h + b_eff[m,e])[a]  W_eff^T [M*E, H, K*D], b_eff [M*E, K*D]
 * The torch form writes the hidden activations [H, C] of every (member, episode) to memory and
 * reads them back; here each block of 8 candidates keeps its hidden unit and its K*D outputs in
 * vector registers, so the step runs at the FMA units' rate instead of the cache's.
 *
 * Layouts (float32, row-major, contiguous): states and out [M, E, C, D], actions int64 [E, C].
 * Candidates are split over n_threads threads (the caller and a pool of POSIX workers, see
 * pool_ready). Returns the number of actions outside [0, K) (their rows
 * are left unwritten; the caller raises), or -1 for shapes this file does not handle.
 * Built by persim/models/native_step.py with the C compiler of the machine (GCC/Clang vector
 * extensions, no intrinsics: any target the compiler supports). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

enum { LANES = 8, DMAX = 16, KDMAX = 64 };

struct task {
    int M, E, C, D, K, H, c0, c1, bad;
    const float *states, *w1, *wt, *be;
    const int64_t *actions;
    float *out;
};

/* Rows [c0, c1) of every (member, episode) pair; D_ and KD_ are compile-time constants in the
 * specialised instances (the accumulators then live in registers), runtime values in the generic one. */
#define DEFINE_ROWS(NAME, D_, KD_, DSIZE, KDSIZE)                                                 \
static void NAME(struct task *t) {                                                                \
    const int D = (D_), KD = (KD_), H = t->H, C = t->C;                                           \
    const v8 zero = {0};                                                                          \
    for (int b = 0; b < t->M * t->E; b++) {                                                       \
        const float *s = t->states + (size_t)b * C * D, *w1 = t->w1 + (size_t)(b / t->E) * H * (D + 1); \
        const float *wt = t->wt + (size_t)b * H * KD, *be = t->be + (size_t)b * KD;               \
        const int64_t *act = t->actions + (size_t)(b % t->E) * C;                                 \
        float *out = t->out + (size_t)b * C * D;                                                  \
        for (int c0 = t->c0; c0 < t->c1; c0 += LANES) {                                           \
            const int n = t->c1 - c0 < LANES ? t->c1 - c0 : LANES;                                \
            float xs[DSIZE][LANES], a[KDSIZE][LANES];                                             \
            v8 x[DSIZE], acc[KDSIZE];                                                             \
            memset(xs, 0, sizeof xs);                                                             \
            for (int i = 0; i < n; i++)                                                           \
                for (int d = 0; d < D; d++) xs[d][i] = s[(size_t)(c0 + i) * D + d];               \
            for (int d = 0; d < D; d++) memcpy(&x[d], xs[d], sizeof(v8));                         \
            for (int o = 0; o < KD; o++) acc[o] = zero;                                           \
            const float *w = w1, *u = wt;                                                         \
            for (int j = 0; j < H; j++, w += D + 1, u += KD) {                                    \
                v8 h = zero + w[D];                                                               \
                for (int d = 0; d < D; d++) h += w[d] * x[d];                                     \
                h = (v8)((vi8)(h > zero) & (vi8)h);                                               \
                for (int o = 0; o < KD; o++) acc[o] += u[o] * h;                                  \
            }                                                                                     \
            for (int o = 0; o < KD; o++) memcpy(a[o], &acc[o], sizeof(v8));                       \
            for (int i = 0; i < n; i++) {                                                         \
                const int64_t k = act[c0 + i];                                                    \
                if (k < 0 || k >= KD / D) { t->bad++; continue; }                                 \
                for (int d = 0; d < D; d++)                                                       \
                    out[(size_t)(c0 + i) * D + d] = xs[d][i] + (a[k * D + d][i] + be[k * D + d]); \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}

DEFINE_ROWS(rows_d2_k3, 2, 6, 2, 6)    /* MountainCar: D = 2, K = 3 */
DEFINE_ROWS(rows_d4_k2, 4, 8, 4, 8)    /* CartPole: D = 4, K = 2 */
DEFINE_ROWS(rows_any, t->D, t->D * t->K, DMAX, KDMAX)

static void *run_task(void *arg) {
    struct task *t = arg;
    if (t->D == 2 && t->K == 3) rows_d2_k3(t);
    else if (t->D == 4 && t->K == 2) rows_d4_k2(t);
    else rows_any(t);
    return NULL;
}

/* A pool of worker threads, started on the first call that asks for more than one thread and kept
 * (starting threads per call costs ~40 us each here, a third of a paper-size step's work). Between
 * calls a worker first spins for up to SPIN_NS watching the call counter, then sleeps on a condition
 * variable; the caller likewise spins for up to SPIN_NS before it sleeps waiting for the workers.
 * Planning calls the kernel once per horizon step with ~0.1 ms between calls: waking a sleeping
 * thread there cost ~60 us per call (2 threads, this VM), a third of the call. A forked child
 * inherits the pool's memory but not its threads: the pid check starts a fresh pool there. One call
 * at a time holds the pool. */
enum { MAX_THREADS = 64 };
static struct {
    pid_t pid;
    int size;                      /* workers started: tasks 1..size */
    int active;                    /* workers with a task in the current call */
    unsigned long pending;         /* of those, still running (atomic reads outside mu) */
    unsigned long generation;      /* bumped per call (atomic reads outside mu) */
    struct task *tasks;
    unsigned long born[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
} pool;
static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER;

static void reset_in_child(void) {  /* after fork: the child has one thread, none of ours */
    pthread_mutex_init(&call_mu, NULL);
    pool.pid = 0;
}

__attribute__((constructor)) static void register_fork_handler(void) {
    pthread_atfork(NULL, NULL, reset_in_child);
}

enum { SPIN_NS = 200000 };  /* 0.2 ms */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spin until *value != unchanged or SPIN_NS pass; returns whether it changed. */
static int spin_until_changed(const unsigned long *value, unsigned long unchanged) {
    const long long start = now_ns();
    for (int i = 1;; i++) {
        if (__atomic_load_n(value, __ATOMIC_ACQUIRE) != unchanged) return 1;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - start > SPIN_NS) return 0;
    }
}

static void *worker(void *arg) {
    const int index = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.mu);
    unsigned long seen = pool.born[index];  /* the generation when it was started, not when it runs */
    pthread_mutex_unlock(&pool.mu);
    for (;;) {
        spin_until_changed(&pool.generation, seen);
        pthread_mutex_lock(&pool.mu);      /* generation, active and tasks are read together */
        while (pool.generation == seen) pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.generation;
        const int mine = index <= pool.active;
        struct task *t = mine ? &pool.tasks[index] : NULL;
        pthread_mutex_unlock(&pool.mu);
        if (!mine) continue;
        run_task(t);
        pthread_mutex_lock(&pool.mu);
        if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_RELEASE) == 0) pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.mu);
    }
    return NULL;
}

/* Workers 1..want-1 exist in this process (fewer if the system refuses threads); returns how many
 * threads the call may use, the caller included: at most want (a pool grown by an earlier call with
 * more threads keeps its extra workers asleep). */
static int pool_ready(int want) {
    if (pool.pid != getpid()) {  /* first use, or a forked child: no worker of ours runs here */
        pool.pid = getpid();
        pool.size = 0;
        pool.generation = 0;
        pthread_mutex_init(&pool.mu, NULL);
        pthread_cond_init(&pool.go, NULL);
        pthread_cond_init(&pool.done, NULL);
    }
    while (pool.size < want - 1) {
        pthread_mutex_lock(&pool.mu);
        pool.born[pool.size + 1] = pool.generation;
        int ok = pthread_create(&pool.threads[pool.size + 1], NULL, worker, (void *)(intptr_t)(pool.size + 1)) == 0;
        if (ok) pool.size++;
        pthread_mutex_unlock(&pool.mu);
        if (!ok) break;
    }
    return pool.size + 1 < want ? pool.size + 1 : want;
}

int persim_folded_step(int M, int E, int C, int D, int K, int H, int n_threads,
                       const float *states, const int64_t *actions, const float *w1,
                       const float *wt, const float *be, float *out) {
    if (M < 1 || E < 1 || C < 1 || H < 1 || D < 1 || K < 1 || D > DMAX || D * K > KDMAX) return -1;
    int n = n_threads < 1 ? 1 : (n_threads > MAX_THREADS ? MAX_THREADS : n_threads);
    const int blocks = (C + LANES - 1) / LANES;
    if (n > blocks) n = blocks;
    pthread_mutex_lock(&call_mu);
    if (n > 1) n = pool_ready(n);
    struct task tasks[MAX_THREADS];
    for (int i = 0; i < n; i++) {  /* whole blocks of candidates per thread */
        int c0 = (int)((long)blocks * i / n) * LANES, c1 = (int)((long)blocks * (i + 1) / n) * LANES;
        tasks[i] = (struct task){M, E, C, D, K, H, c0, c1 < C ? c1 : C, 0, states, w1, wt, be, actions, out};
    }
    if (n > 1) {
        pthread_mutex_lock(&pool.mu);
        pool.tasks = tasks;
        pool.active = n - 1;
        __atomic_store_n(&pool.pending, (unsigned long)(n - 1), __ATOMIC_RELAXED);  /* published by the unlock */
        __atomic_add_fetch(&pool.generation, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&pool.go);
        pthread_mutex_unlock(&pool.mu);
    }
    run_task(&tasks[0]);
    if (n > 1) {
        unsigned long left;
        while ((left = __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE)) != 0 &&
               spin_until_changed(&pool.pending, left)) {}
        if (left != 0) {
            pthread_mutex_lock(&pool.mu);
            while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }  /* either way (the acquire load that read 0, or the mutex) the workers' rows and counts are visible */
    }
    pthread_mutex_unlock(&call_mu);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += tasks[i].bad;
    return bad;
}
