/* The HE engine's batch loops in C, outside the GIL and over several threads.
 *
 * Why: the hot loops of the engine are long runs of independent big-number products. In Python the
 * interpreter adds 10-25 % to each (a ctypes call into crypto_mb costs ~1 us of a ~4 us product) and the
 * loop holds one core; worker processes pay more in pickling than an addition costs. Here each loop runs in
 * C with the GIL released, its items split over `threads` POSIX threads. The arithmetic itself is the
 * libraries': GMP (mpz_mul, mpz_tdiv_r) and Intel crypto_mb's 8-lane almost-Montgomery multiplication
 * (ifma_amm52x{L}_mb8) and exponentiation (mbx_exp_mb8), their addresses handed over by mbfixed.py and
 * mbx.py. Nothing is hand-rolled.
 *
 *   mulmod_many   ciphertext addition: [a[i] * b[i] mod m] for gmpy2 integers.
 *   mb_fixed_pow  fixed-base exponentiation: for each group of 8 lanes, the product of one table entry per
 *                 window digit (mbfixed.py's table and layout), gathered here instead of by numpy.
 *   mbx_exp_many  general exponentiation: crypto_mb's mbx_exp_mb8 over groups of 8 lanes (mbx.py's rows).
 *
 * mulmod_many's results are created through gmpy2's C API (gmpy2.h) while the GIL is held; the threads
 * only write into their own, not yet shared, results. GMP is the system's (libgmp-dev, its header first:
 * setup.py puts gmpy2's bundled headers after it); gmpy2's bundled copy and this one both allocate with
 * malloc (gmpy2 sets no memory functions), so an mpz from either is valid in the other.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <gmp.h>
#include "gmpy2.h"

#if __GNU_MP_VERSION < 6 || (__GNU_MP_VERSION == 6 && __GNU_MP_VERSION_MINOR < 2)
#error "GMP 6.2 or newer is needed: gmpy2's integers are lazily allocated (mpz_init allocates nothing since 6.2)"
#endif

#define MAX_THREADS 64
#define LANES 8
#define MAX_DIGITS 80 /* crypto_mb's widest kernel has 79 52-bit digits (4096 bits) */

/* ---- threads: items [0, n) in `threads` contiguous slices, this thread taking the first ---- */

typedef void (*slice_fn)(void *ctx, Py_ssize_t lo, Py_ssize_t hi);

typedef struct {
    slice_fn fn;
    void *ctx;
    Py_ssize_t lo, hi;
} Slice;

static void *run_slice(void *arg) {
    Slice *s = (Slice *)arg;
    s->fn(s->ctx, s->lo, s->hi);
    return NULL;
}

/* Runs fn over [0, n) without the GIL; slices smaller than min_per_thread items are not worth a thread. */
static void spread(slice_fn fn, void *ctx, Py_ssize_t n, int threads, Py_ssize_t min_per_thread) {
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > n / min_per_thread)
        threads = (int)(n / min_per_thread);
    if (threads < 1)
        threads = 1;
    Slice slices[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        slices[t] = (Slice){fn, ctx, n * t / threads, n * (t + 1) / threads};
    Py_BEGIN_ALLOW_THREADS
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tids[t], NULL, run_slice, &slices[t]) == 0;
    run_slice(&slices[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            run_slice(&slices[t]); /* no thread to be had: this one does the slice */
    }
    Py_END_ALLOW_THREADS
}

/* ---- mulmod_many ---- */

typedef struct {
    PyObject **a, **b, **out;
    mpz_srcptr m;
} MulMod;

static void mulmod_slice(void *ctx, Py_ssize_t lo, Py_ssize_t hi) {
    MulMod *c = (MulMod *)ctx;
    mpz_t product; /* this thread's: a result keeps only the residue's size, not the product's */
    mpz_init2(product, 2 * mpz_sizeinbase(c->m, 2) + 64);
    for (Py_ssize_t i = lo; i < hi; i++) {
        mpz_mul(product, MPZ(c->a[i]), MPZ(c->b[i]));
        mpz_tdiv_r(MPZ(c->out[i]), product, c->m);
    }
    mpz_clear(product);
}

/* A list of our own holding gmpy2 integers: Python ints are converted, anything else or a negative refused.
 * Our own, so no other thread can resize or change it while the GIL is released. */
static PyObject *residues(PyObject *seq, const char *name) {
    PyObject *list = PySequence_List(seq);
    if (!list)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (!MPZ_Check(item)) {
            if (!PyLong_Check(item)) {
                PyErr_Format(PyExc_TypeError, "%s[%zd] is %s, not an integer", name, i, Py_TYPE(item)->tp_name);
                goto fail;
            }
            PyObject *converted = PyObject_CallOneArg((PyObject *)GMPy_C_API[MPZ_Type_NUM], item);
            if (!converted)
                goto fail;
            PyList_SetItem(list, i, converted); /* drops the int */
            item = converted;
        }
        if (mpz_sgn(MPZ(item)) < 0) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] is negative; ciphertexts are residues in [0, N)", name, i);
            goto fail;
        }
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

PyDoc_STRVAR(mulmod_many_doc,
"mulmod_many(a, b, modulus, threads) -> list[mpz]\n\n"
"[x * y % modulus for x, y in zip(a, b)] for non-negative integers (gmpy2.mpz, or int: converted), outside\n"
"the GIL over up to `threads` threads.");

static PyObject *mulmod_many(PyObject *self, PyObject *args) {
    PyObject *a_in, *b_in, *m_obj, *a = NULL, *b = NULL, *out = NULL;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOi", &a_in, &b_in, &m_obj, &threads))
        return NULL;
    if (!MPZ_Check(m_obj) || mpz_sgn(MPZ(m_obj)) <= 0) {
        PyErr_SetString(PyExc_ValueError, "modulus must be a positive gmpy2.mpz");
        return NULL;
    }
    if (!(a = residues(a_in, "a")) || !(b = residues(b_in, "b")))
        goto fail;
    Py_ssize_t n = PyList_GET_SIZE(a);
    if (PyList_GET_SIZE(b) != n) {
        PyErr_Format(PyExc_ValueError, "a has %zd items but b has %zd", n, PyList_GET_SIZE(b));
        goto fail;
    }
    if (!(out = PyList_New(n)))
        goto fail;
    mp_bitcnt_t residue_bits = mpz_sizeinbase(MPZ(m_obj), 2);
    for (Py_ssize_t i = 0; i < n; i++) {
        MPZ_Object *r = GMPy_MPZ_New(NULL);
        if (!r)
            goto fail;
        mpz_realloc2(r->z, residue_bits); /* room for the residue: the threads do not allocate per item */
        PyList_SET_ITEM(out, i, (PyObject *)r);
    }
    MulMod ctx = {((PyListObject *)a)->ob_item, ((PyListObject *)b)->ob_item, ((PyListObject *)out)->ob_item,
                  MPZ(m_obj)};
    spread(mulmod_slice, &ctx, n, threads, 32); /* below 32 products a thread's start (~20 us) costs more */
    Py_DECREF(a);
    Py_DECREF(b);
    return out;
fail:
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(out);
    return NULL;
}

/* ---- mb_fixed_pow ---- */

typedef void (*amm_fn)(uint64_t *out, const uint64_t *a, const uint64_t *b, const uint64_t *m, const uint64_t *k0);

typedef struct {
    amm_fn amm;
    const uint64_t *table;   /* (rows, size, digits): row i, digit value d -> entry (Montgomery form) */
    const int64_t *windows;  /* (groups, 8, used): each lane's w-bit exponent digits */
    const int64_t *needed;   /* (groups,): rows a group multiplies (its longest exponent's digit count) */
    const uint64_t *mod_mb, *k0, *one_mb;
    uint64_t *out;           /* (groups, digits, 8): base^e mod m, mb layout */
    Py_ssize_t size, digits, used;
} FixedPow;

/* b (digits x 8, mb layout) = table row `row`'s entries for the 8 lanes' digits at that row. */
static void gather(const FixedPow *c, Py_ssize_t group, Py_ssize_t row, uint64_t *b) {
    for (int lane = 0; lane < LANES; lane++) {
        int64_t d = c->windows[(group * LANES + lane) * c->used + row];
        const uint64_t *entry = c->table + (row * c->size + d) * c->digits;
        for (Py_ssize_t j = 0; j < c->digits; j++)
            b[j * LANES + lane] = entry[j];
    }
}

static void fixed_pow_slice(void *ctx, Py_ssize_t lo, Py_ssize_t hi) {
    const FixedPow *c = (const FixedPow *)ctx;
    uint64_t b[MAX_DIGITS * LANES];
    for (Py_ssize_t g = lo; g < hi; g++) {
        uint64_t *acc = c->out + g * c->digits * LANES;
        gather(c, g, 0, acc);
        for (Py_ssize_t i = 1; i < c->needed[g]; i++) {
            gather(c, g, i, b);
            c->amm(acc, acc, b, c->mod_mb, c->k0);
        }
        c->amm(acc, acc, c->one_mb, c->mod_mb, c->k0); /* out of the Montgomery domain */
    }
}

static int sized(Py_buffer *buf, Py_ssize_t items, Py_ssize_t itemsize, const char *name) {
    if (buf->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", name, buf->len, items * itemsize);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(mb_fixed_pow_doc,
"mb_fixed_pow(amm_address, table, windows, needed, mod_mb, k0, one_mb, out, rows, size, digits, threads)\n\n"
"Fills out (groups x digits x 8 uint64, mb layout) with base^e mod m for every lane of every group, from\n"
"mbfixed.MbFixedBase's table (rows x size x digits), the exponents' window digits (groups x 8 x used int64)\n"
"and each group's row count (needed, groups int64, 1 <= needed <= used). All buffers C-contiguous.");

static PyObject *mb_fixed_pow(PyObject *self, PyObject *args) {
    unsigned long long address;
    Py_buffer table = {0}, windows = {0}, needed = {0}, mod_mb = {0}, k0 = {0}, one_mb = {0}, out = {0};
    Py_ssize_t rows, size, digits;
    int threads;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "Ky*y*y*y*y*y*w*nnni", &address, &table, &windows, &needed, &mod_mb, &k0, &one_mb,
                          &out, &rows, &size, &digits, &threads))
        return NULL;
    Py_ssize_t groups = needed.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t used = groups ? windows.len / (Py_ssize_t)sizeof(int64_t) / (groups * LANES) : 0;
    if (address == 0 || digits < 1 || digits > MAX_DIGITS || size < 2 || rows < 1 || used > rows) {
        PyErr_SetString(PyExc_ValueError, "mb_fixed_pow: bad kernel address or table shape");
        goto done;
    }
    if (sized(&table, rows * size * digits, 8, "table") < 0 || sized(&windows, groups * LANES * used, 8, "windows") < 0
        || sized(&mod_mb, digits * LANES, 8, "mod_mb") < 0 || sized(&k0, LANES, 8, "k0") < 0
        || sized(&one_mb, digits * LANES, 8, "one_mb") < 0 || sized(&out, groups * digits * LANES, 8, "out") < 0)
        goto done;
    const int64_t *need = needed.buf, *win = windows.buf;
    for (Py_ssize_t g = 0; g < groups; g++)
        if (need[g] < 1 || need[g] > used) {
            PyErr_Format(PyExc_ValueError, "group %zd needs %lld rows of %zd", g, (long long)need[g], used);
            goto done;
        }
    for (Py_ssize_t i = 0; i < groups * LANES * used; i++)
        if (win[i] < 0 || win[i] >= size) {
            PyErr_Format(PyExc_ValueError, "window digit %lld outside [0, %zd)", (long long)win[i], size);
            goto done;
        }
    FixedPow ctx = {(amm_fn)(uintptr_t)address, table.buf, win, need, mod_mb.buf, k0.buf, one_mb.buf, out.buf,
                    size, digits, used};
    spread(fixed_pow_slice, &ctx, groups, threads, 4); /* a group is ~30 products of ~3 us */
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&windows);
    PyBuffer_Release(&needed);
    PyBuffer_Release(&mod_mb);
    PyBuffer_Release(&k0);
    PyBuffer_Release(&one_mb);
    PyBuffer_Release(&out);
    return result;
}

/* ---- mbx_exp_many ---- */

typedef uint32_t (*exp_fn)(uint64_t *const out[8], const uint64_t *const base[8], const uint64_t *const exp[8],
                           int exp_bits, const uint64_t *const mod[8], int mod_bits, uint8_t *work, int work_len);

typedef struct {
    exp_fn exp;
    uint64_t *const *out;
    const uint64_t *const *base, *const *exps, *const *mod;
    const int64_t *exp_bits;
    uint32_t *status;
    int mod_bits, work_len;
} ExpMany;

static void exp_slice(void *ctx, Py_ssize_t lo, Py_ssize_t hi) {
    const ExpMany *c = (const ExpMany *)ctx;
    uint8_t *work = malloc((size_t)c->work_len); /* each thread its own scratch */
    for (Py_ssize_t g = lo; g < hi; g++)
        c->status[g] = work ? c->exp(c->out + LANES * g, c->base + LANES * g, c->exps + LANES * g,
                                     (int)c->exp_bits[g], c->mod, c->mod_bits, work, c->work_len)
                            : 0xFFFFFFFFu; /* no memory: every lane of the group reported failed */
    free(work);
}

PyDoc_STRVAR(mbx_exp_many_doc,
"mbx_exp_many(address, out_ptrs, base_ptrs, exp_ptrs, exp_bits, mod_ptrs, mod_bits, work_len, status, threads)\n\n"
"One mbx_exp_mb8 call per group of 8 lanes: the pointer arrays (uint64, 8 per group; mod_ptrs 8) point\n"
"at mbx.py's limb rows, exp_bits (int64, one per group) is each call's exponent length, and status (uint32,\n"
"one per group) receives each call's lane-failure mask.");

static PyObject *mbx_exp_many(PyObject *self, PyObject *args) {
    unsigned long long address;
    Py_buffer out = {0}, base = {0}, exps = {0}, exp_bits = {0}, mod = {0}, status = {0};
    int mod_bits, work_len, threads;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "Ky*y*y*y*y*iiw*i", &address, &out, &base, &exps, &exp_bits, &mod, &mod_bits,
                          &work_len, &status, &threads))
        return NULL;
    Py_ssize_t groups = exp_bits.len / (Py_ssize_t)sizeof(int64_t);
    if (address == 0 || work_len <= 0 || mod_bits <= 0) {
        PyErr_SetString(PyExc_ValueError, "mbx_exp_many: bad kernel address, work length or modulus size");
        goto done;
    }
    if (sized(&out, groups * LANES, 8, "out_ptrs") < 0 || sized(&base, groups * LANES, 8, "base_ptrs") < 0
        || sized(&exps, groups * LANES, 8, "exp_ptrs") < 0 || sized(&mod, LANES, 8, "mod_ptrs") < 0
        || sized(&status, groups, 4, "status") < 0)
        goto done;
    ExpMany ctx = {(exp_fn)(uintptr_t)address, out.buf, base.buf, exps.buf, mod.buf, exp_bits.buf, status.buf,
                   mod_bits, work_len};
    spread(exp_slice, &ctx, groups, threads, 2); /* a call is 10-4000 us */
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&base);
    PyBuffer_Release(&exps);
    PyBuffer_Release(&exp_bits);
    PyBuffer_Release(&mod);
    PyBuffer_Release(&status);
    return result;
}

static PyMethodDef methods[] = {
    {"mulmod_many", mulmod_many, METH_VARARGS, mulmod_many_doc},
    {"mb_fixed_pow", mb_fixed_pow, METH_VARARGS, mb_fixed_pow_doc},
    {"mbx_exp_many", mbx_exp_many, METH_VARARGS, mbx_exp_many_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_batch", "The HE engine's batch loops in C, outside the GIL (see _batch.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__batch(void) {
    if (import_gmpy2() < 0)
        return NULL;
    return PyModule_Create(&module);
}
