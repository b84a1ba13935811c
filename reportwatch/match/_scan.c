/* Normalise-and-scan for reportwatch.match, in one pass per field.
 *
 * The Python side (reportwatch/scanner.py) builds every table: the per-character
 * normalisation (NFKC + casefold, whitespace collapsed, characters needing context marked
 * DANGER), the Aho-Corasick automaton over the normalised keywords, and what each key means.
 * This file only walks them, so its results are those of the Python matcher by construction;
 * anything it cannot do exactly (markup, entities, combining marks, odd spaces, characters
 * beyond the BMP) makes it answer None and the Python path takes the entry.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DANGER 0xFFFFFFFFu
#define SPACE 0xFFFFFFFEu
#define EXPAND 0x80000000u /* | offset << 8 | length */

#define F_LEFT 1    /* Latin keyword start: needs a word boundary before it */
#define F_RIGHT 2   /* ... and after it */
#define F_MARKER 4  /* a boilerplate phrase may start here */
#define F_PAYLOAD 8 /* the key stands for keywords (not only a marker) */

enum { T_NORM, T_EXPAND, T_CLS, T_ROOT, T_TR_START, T_TR_CLS, T_TR_NEXT, T_FAIL, T_OUT_START,
       T_OUT_KEYS, T_KEY_LEN, T_KEY_FLAGS, T_IDS_START, T_NFREE, T_NANCH, T_IDS, T_TRIGGER,
       N_TABLES };

typedef struct {
    PyObject_HEAD
    PyObject *owners[N_TABLES]; /* bytes objects the pointers below live in */
    const uint32_t *norm, *expand;
    const uint16_t *cls;
    const int32_t *root, *tr_start, *tr_cls, *tr_next, *fail, *out_start, *out_keys;
    const int32_t *key_len, *key_flags, *ids_start, *nfree, *nanch, *ids;
    const uint8_t *trigger;
    Py_ssize_t nkw, nclasses;
    uint16_t *delta; /* full DFA (state * nclasses + class), when small enough; else NULL */
    uint8_t *bits;    /* keyword id -> fields found in (1 title, 2 summary, 4 categories) */
    int32_t *touched; /* ids with bits set, in the order found */
    Py_ssize_t ntouched;
    uint32_t *buf, *sbuf; /* the field being scanned; the summary, kept for the caller */
    Py_ssize_t cap, scap, slen;
    int summary_hit, marker;
    PyObject *memo, *fallback; /* key -> list of tag matches; called for the rest */
    PyObject *empty, *empty_tuple;
} Scanner;

static int grow(uint32_t **buf, Py_ssize_t *cap, Py_ssize_t need) {
    if (need <= *cap) return 0;
    Py_ssize_t n = need * 2 + 256;
    uint32_t *p = PyMem_Realloc(*buf, (size_t)n * sizeof(uint32_t));
    if (!p) { PyErr_NoMemory(); return -1; }
    *buf = p; *cap = n;
    return 0;
}

/* Normalised code points of one field into self->buf; returns the length, -1 on error,
 * -2 when the field needs the Python path. */
#define NORMALISE_LOOP(TYPE)                                                                  \
    for (Py_ssize_t i = 0; i < n; i++) {                                                      \
        Py_UCS4 cp = ((const TYPE *)data)[i];                                                 \
        if (cp > 0xFFFF) return -2;                                                           \
        uint32_t v = norm[cp];                                                                \
        if (v < EXPAND) { /* the common case: one character */                               \
            if (space) { buf[out++] = ' '; space = 0; }                                       \
            buf[out++] = v;                                                                   \
        } else if (v == SPACE) {                                                              \
            space = out > 0; /* runs collapse, ends are trimmed */                            \
        } else if (v == DANGER) {                                                             \
            return -2;                                                                        \
        } else { /* several characters: make room for them and the rest of the input */  \
            Py_ssize_t need = out + (Py_ssize_t)(v & 0xFF) + (n - i) + 2;                     \
            if (need > self->cap) {                                                           \
                if (grow(&self->buf, &self->cap, need) < 0) return -1;                        \
                buf = self->buf;                                                              \
            }                                                                                 \
            if (space) { buf[out++] = ' '; space = 0; }                                       \
            const uint32_t *src = self->expand + ((v & ~EXPAND) >> 8);                        \
            for (uint32_t j = 0; j < (v & 0xFF); j++) buf[out++] = src[j];                   \
        }                                                                                     \
    }

static Py_ssize_t normalise_field(Scanner *self, PyObject *text, int prenormalised) {
    if (!PyUnicode_Check(text)) return -2;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), out = 0;
    /* one in, at most one out (a collapsed space is written with the character after it);
     * only expansions need more, and they make room for themselves */
    if (grow(&self->buf, &self->cap, n + 2) < 0) return -1;
    uint32_t *buf = self->buf;
    if (prenormalised) {
        for (Py_ssize_t i = 0; i < n; i++) buf[i] = PyUnicode_READ(kind, data, i);
        return n;
    }
    const uint32_t *norm = self->norm;
    int space = 0;
    if (kind == PyUnicode_1BYTE_KIND) { NORMALISE_LOOP(Py_UCS1) }
    else if (kind == PyUnicode_2BYTE_KIND) { NORMALISE_LOOP(Py_UCS2) }
    else { NORMALISE_LOOP(Py_UCS4) }
    return out;
}

static inline int is_word(uint32_t cp) {
    return cp < 128 && ((cp | 32) - 'a' < 26 || cp - '0' < 10);
}

static inline int is_segment(uint32_t cp) { /* a headline's subject follows these */
    return cp == '\n' || cp == ':' || cp == '|' || cp == '?' || cp == '!' || cp == ';'
        || cp == '/' || cp == 0x4E28;
}

/* Does a segment start at buf[start]: the field's start, or a segment mark before it, with
   spaces between allowed ("36氪 | 微信…", "A； 微信…")? */
static inline int segment_start(const uint32_t *buf, Py_ssize_t start) {
    Py_ssize_t i = start - 1;
    while (i >= 0 && buf[i] == ' ') i--;
    return i < 0 || is_segment(buf[i]);
}

static inline void mark(Scanner *self, int32_t id, uint8_t bit) {
    if (!self->bits[id]) self->touched[self->ntouched++] = id;
    self->bits[id] |= bit;
    if (bit == 2) self->summary_hit = 1;
}

static int32_t next_state(const Scanner *self, int32_t state, int32_t c) {
    int32_t lo = self->tr_start[state], hi = self->tr_start[state + 1];
    while (lo < hi) {
        int32_t mid = (lo + hi) >> 1;
        if (self->tr_cls[mid] < c) lo = mid + 1;
        else if (self->tr_cls[mid] > c) hi = mid;
        else return self->tr_next[mid];
    }
    return -1;
}

/* Report the keys that end at buf[end - 1] (state's output). */
static void hits(Scanner *self, const uint32_t *buf, Py_ssize_t n, Py_ssize_t end,
                 int32_t state, uint8_t bit) {
    for (int32_t o = self->out_start[state]; o < self->out_start[state + 1]; o++) {
        int32_t k = self->out_keys[o], f = self->key_flags[k];
        Py_ssize_t start = end - self->key_len[k];
        if ((f & F_MARKER) && bit == 2) self->marker = 1;
        if (!(f & F_PAYLOAD)) continue;
        if ((f & F_LEFT) && start > 0 && is_word(buf[start - 1])) continue;
        if ((f & F_RIGHT) && end < n && is_word(buf[end])) continue;
        const int32_t *ids = self->ids + self->ids_start[k];
        int32_t nfree = self->nfree[k], nanch = self->nanch[k];
        for (int32_t j = 0; j < nfree; j++) mark(self, ids[j], bit);
        if (nanch && segment_start(buf, start))
            for (int32_t j = 0; j < nanch; j++) mark(self, ids[nfree + j], bit);
    }
}

static void scan_field(Scanner *self, Py_ssize_t n, uint8_t bit) {
    /* locals: the compiler cannot keep self's fields in registers across the stores in mark */
    const uint32_t *buf = self->buf;
    const uint16_t *cls = self->cls, *delta = self->delta;
    const int32_t *out_start = self->out_start;
    const Py_ssize_t nc = self->nclasses;
    int32_t state = 0;
    if (delta) {
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t cp = buf[i];
            int32_t c = cp <= 0xFFFF ? cls[cp] : 0;
            state = c ? delta[(Py_ssize_t)state * nc + c] : 0; /* 0: in no keyword */
            if (out_start[state] != out_start[state + 1]) hits(self, buf, n, i + 1, state, bit);
        }
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* large rule sets: walk the fail links */
        uint32_t cp = buf[i];
        int32_t c = cp <= 0xFFFF ? cls[cp] : 0;
        if (c == 0) { state = 0; continue; }
        for (;;) {
            if (state == 0) { state = self->root[c]; break; }
            int32_t next = next_state(self, state, c);
            if (next >= 0) { state = next; break; }
            state = self->fail[state];
        }
        if (out_start[state] != out_start[state + 1]) hits(self, buf, n, i + 1, state, bit);
    }
}

static int cmp_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void reset(Scanner *self) {
    for (Py_ssize_t j = 0; j < self->ntouched; j++) self->bits[self->touched[j]] = 0;
    self->ntouched = 0;
    self->summary_hit = self->marker = 0;
}

/* One field: normalise, keep a copy if it is the summary, scan. 0 ok, -1 error, -2 Python. */
static int do_field(Scanner *self, PyObject *text, uint8_t bit, int prenormalised) {
    Py_ssize_t n = normalise_field(self, text, prenormalised);
    if (n < 0) return (int)n;
    if (bit == 2) {
        if (grow(&self->sbuf, &self->scap, n + 1) < 0) return -1;
        memcpy(self->sbuf, self->buf, (size_t)n * sizeof(uint32_t));
        self->slen = n;
    }
    scan_field(self, n, bit);
    return 0;
}

/* Scan an entry. Returns -1 on error, -2 for the Python path, 0 when no keyword found can
 * switch a tag on, 1 with *key set: the keywords found as int32 (id, field bits) pairs
 * sorted by id, in bytes (the memo's key). The scratch state is reset on return. */
static int scan_entry(Scanner *self, PyObject *title, PyObject *summary, PyObject *cats,
                      int prenormalised, PyObject **key) {
    PyObject *seq = PySequence_Fast(cats, "categories must be a sequence");
    if (!seq) return -1;
    int rc = do_field(self, title, 1, 0);
    if (rc == 0) rc = do_field(self, summary, 2, prenormalised);
    Py_ssize_t ncats = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t j = 0; rc == 0 && j < ncats; j++)
        rc = do_field(self, PySequence_Fast_GET_ITEM(seq, j), 4, 0);
    Py_DECREF(seq);
    int trigger = 0;
    for (Py_ssize_t j = 0; rc == 0 && j < self->ntouched && !trigger; j++)
        trigger = self->trigger[self->touched[j]];
    if (rc < 0 || !trigger) {
        reset(self);
        return rc;
    }
    qsort(self->touched, (size_t)self->ntouched, sizeof(int32_t), cmp_int32);
    *key = PyBytes_FromStringAndSize(NULL, self->ntouched * 2 * (Py_ssize_t)sizeof(int32_t));
    if (*key) {
        int32_t *pairs = (int32_t *)PyBytes_AS_STRING(*key);
        for (Py_ssize_t j = 0; j < self->ntouched; j++) {
            pairs[2 * j] = self->touched[j];
            pairs[2 * j + 1] = self->bits[self->touched[j]];
        }
    }
    int boilerplate = self->summary_hit && self->marker;
    reset(self);
    self->marker = boilerplate; /* read by the caller */
    return *key ? 1 : -1;
}

/* The normalised summary, when it may hold boilerplate to strip; else None. */
static PyObject *summary_if_marked(Scanner *self) {
    if (!self->marker) return Py_NewRef(Py_None);
    self->marker = 0;
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, self->sbuf, self->slen);
}

PyDoc_STRVAR(scan_doc,
"scan(title, summary, categories, summary_normalised=False)\n\n"
"None: the entry needs the Python path. 0: no keyword that can switch a tag on.\n"
"Otherwise (key, summary): key holds the keywords found as int32 (id, field bits) pairs\n"
"sorted by id; summary is the normalised summary when a keyword was found in it and a\n"
"boilerplate phrase may be there too, else None.");

static PyObject *Scanner_scan(Scanner *self, PyObject *args) {
    PyObject *title, *summary, *cats, *key = NULL;
    int prenormalised = 0;
    if (!PyArg_ParseTuple(args, "OOO|p", &title, &summary, &cats, &prenormalised)) return NULL;
    int rc = scan_entry(self, title, summary, cats, prenormalised, &key);
    if (rc == -1) return NULL;
    if (rc == -2) Py_RETURN_NONE;
    if (rc == 0) return PyLong_FromLong(0);
    PyObject *text = summary_if_marked(self);
    if (!text) { Py_DECREF(key); return NULL; }
    PyObject *result = PyTuple_Pack(2, key, text);
    Py_DECREF(key);
    Py_DECREF(text);
    return result;
}

PyDoc_STRVAR(match_doc,
"match(title, summary='', categories=())\n\n"
"The tags of an entry: answered here when the outcome is in the memo (or no tag can\n"
"match); otherwise by fallback(title, summary, categories, scanned), where scanned is\n"
"None (the entry needs the Python path) or what scan() would return.");

static PyObject *Scanner_match(Scanner *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"title", "summary", "categories", NULL};
    PyObject *title, *summary = self->empty, *cats = self->empty_tuple, *key = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO", names, &title, &summary, &cats))
        return NULL;
    int rc = scan_entry(self, title, summary, cats, 0, &key);
    if (rc == -1) return NULL;
    if (rc == 0) return PyList_New(0);
    PyObject *scanned = Py_NewRef(Py_None);
    if (rc == 1) {
        PyObject *text = summary_if_marked(self);
        if (!text) { Py_DECREF(key); Py_DECREF(scanned); return NULL; }
        if (text == Py_None) {
            PyObject *out = PyDict_GetItemWithError(self->memo, key); /* borrowed */
            if (out && PyList_CheckExact(out)) {
                Py_DECREF(key); Py_DECREF(text); Py_DECREF(scanned);
                return PyList_GetSlice(out, 0, PyList_GET_SIZE(out)); /* a copy */
            }
            if (PyErr_Occurred()) { Py_DECREF(key); Py_DECREF(text); Py_DECREF(scanned); return NULL; }
        }
        Py_SETREF(scanned, PyTuple_Pack(2, key, text));
        Py_DECREF(key);
        Py_DECREF(text);
        if (!scanned) return NULL;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(self->fallback, title, summary, cats,
                                                    scanned, NULL);
    Py_DECREF(scanned);
    return result;
}

static PyObject *Scanner_normalise(Scanner *self, PyObject *text) {
    Py_ssize_t n = normalise_field(self, text, 0);
    if (n == -1) return NULL;
    if (n == -2) Py_RETURN_NONE;
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, self->buf, n);
}

/* The full transition table, so a step is one lookup instead of a walk along fail links
 * (~4x faster scans). States are numbered breadth first, so each state's fail target (a
 * shorter match) has its row filled before the state itself. */
static int build_delta(Scanner *self, Py_ssize_t nstates) {
    Py_ssize_t nc = self->nclasses;
    /* 16-bit states keep the table small enough for the caches; over 16 MB: walk fail links */
    if (nstates > 65535 || nstates * nc > (Py_ssize_t)8 << 20) return 0;
    self->delta = PyMem_Malloc((size_t)(nstates * nc) * sizeof(uint16_t));
    if (!self->delta) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t c = 0; c < nc; c++) self->delta[c] = (uint16_t)self->root[c];
    for (int32_t s = 1; s < nstates; s++) {
        uint16_t *row = self->delta + (Py_ssize_t)s * nc;
        memcpy(row, self->delta + (Py_ssize_t)self->fail[s] * nc, (size_t)nc * sizeof(uint16_t));
        for (int32_t t = self->tr_start[s]; t < self->tr_start[s + 1]; t++)
            row[self->tr_cls[t]] = (uint16_t)self->tr_next[t];
    }
    return 0;
}

static const Py_ssize_t WIDTH[N_TABLES] = {4, 4, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1};

static int Scanner_init(Scanner *self, PyObject *args, PyObject *Py_UNUSED(kwds)) {
    PyObject *tables, *memo, *fallback;
    Py_ssize_t nkw;
    if (!PyArg_ParseTuple(args, "O!nO!O", &PyTuple_Type, &tables, &nkw, &PyDict_Type, &memo,
                          &fallback))
        return -1;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return -1;
    }
    if (PyTuple_GET_SIZE(tables) != N_TABLES || nkw < 0 || self->bits) {
        PyErr_SetString(PyExc_ValueError, "bad scanner tables");
        return -1;
    }
    const void *ptr[N_TABLES];
    for (int t = 0; t < N_TABLES; t++) {
        PyObject *b = PyTuple_GET_ITEM(tables, t);
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) % WIDTH[t]) {
            PyErr_SetString(PyExc_ValueError, "scanner tables must be bytes of whole items");
            return -1;
        }
        self->owners[t] = Py_NewRef(b);
        ptr[t] = PyBytes_AS_STRING(b);
    }
    if (PyBytes_GET_SIZE(PyTuple_GET_ITEM(tables, T_NORM)) != 65536 * 4 ||
        PyBytes_GET_SIZE(PyTuple_GET_ITEM(tables, T_CLS)) != 65536 * 2 ||
        PyBytes_GET_SIZE(PyTuple_GET_ITEM(tables, T_TRIGGER)) != nkw) {
        PyErr_SetString(PyExc_ValueError, "scanner tables have the wrong size");
        return -1;
    }
    self->norm = ptr[T_NORM]; self->expand = ptr[T_EXPAND]; self->cls = ptr[T_CLS];
    self->root = ptr[T_ROOT]; self->tr_start = ptr[T_TR_START]; self->tr_cls = ptr[T_TR_CLS];
    self->tr_next = ptr[T_TR_NEXT]; self->fail = ptr[T_FAIL]; self->out_start = ptr[T_OUT_START];
    self->out_keys = ptr[T_OUT_KEYS]; self->key_len = ptr[T_KEY_LEN];
    self->key_flags = ptr[T_KEY_FLAGS]; self->ids_start = ptr[T_IDS_START];
    self->nfree = ptr[T_NFREE]; self->nanch = ptr[T_NANCH]; self->ids = ptr[T_IDS];
    self->trigger = ptr[T_TRIGGER];
    self->nkw = nkw;
    self->memo = Py_NewRef(memo);
    self->fallback = Py_NewRef(fallback);
    self->empty = PyUnicode_New(0, 0);
    self->empty_tuple = PyTuple_New(0);
    if (!self->empty || !self->empty_tuple) return -1;
    self->nclasses = PyBytes_GET_SIZE(PyTuple_GET_ITEM(tables, T_ROOT)) / 4;
    Py_ssize_t nstates = PyBytes_GET_SIZE(PyTuple_GET_ITEM(tables, T_FAIL)) / 4;
    for (Py_ssize_t s = 1; s < nstates; s++) /* numbered breadth first (see build_delta) */
        if (self->fail[s] >= s) {
            PyErr_SetString(PyExc_ValueError, "scanner states must be numbered breadth first");
            return -1;
        }
    if (build_delta(self, nstates) < 0) return -1;
    self->bits = PyMem_Calloc((size_t)nkw + 1, 1);
    self->touched = PyMem_Calloc((size_t)nkw + 1, sizeof(int32_t));
    if (!self->bits || !self->touched) { PyErr_NoMemory(); return -1; }
    return 0;
}

/* The fallback is a method of the Matcher that owns this scanner: a cycle for the GC. */
static int Scanner_traverse(Scanner *self, visitproc visit, void *arg) {
    Py_VISIT(self->memo);
    Py_VISIT(self->fallback);
    return 0;
}

static int Scanner_clear(Scanner *self) {
    Py_CLEAR(self->memo);
    Py_CLEAR(self->fallback);
    return 0;
}

static void Scanner_dealloc(Scanner *self) {
    PyObject_GC_UnTrack(self);
    Scanner_clear(self);
    Py_XDECREF(self->empty);
    Py_XDECREF(self->empty_tuple);
    for (int t = 0; t < N_TABLES; t++) Py_XDECREF(self->owners[t]);
    PyMem_Free(self->bits); PyMem_Free(self->touched); PyMem_Free(self->delta);
    PyMem_Free(self->buf); PyMem_Free(self->sbuf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS, scan_doc},
    {"match", (PyCFunction)(void (*)(void))Scanner_match, METH_VARARGS | METH_KEYWORDS, match_doc},
    {"normalise", (PyCFunction)Scanner_normalise, METH_O,
     "normalise(text): the field as the scanner sees it, or None if it needs Python."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "reportwatch._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_doc = "Compiled keyword scanner; build it with reportwatch.scanner.build_scanner().",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "Normalise-and-scan core of reportwatch.match.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
