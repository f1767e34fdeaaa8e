# cython: language_level=3, auto_pickle=False, boundscheck=False, wraparound=False
"""The compiled half of monitor.short_id: BLAKE2b with a 5-byte digest (RFC 7693) in C, as 10 hex digits.

hashlib's object costs a copy of its state, an update and a hexdigest through three method calls and a new object
(~4,400 instructions; once a reading, for the id `seen` keeps). This is RFC 7693's reference C (appendix C),
with its rounds unrolled (the same result on any byte order). tests/monitor/test_short_id.py compares
it with hashlib.
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy, memset


cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    Py_UCS1* PyUnicode_1BYTE_DATA(object o)

cdef extern from *:
    """
    /* RFC 7693, appendix C: the state stays in registers (constant indices) */
    #define VIGIL_ROTR64(x, y) (((x) >> (y)) ^ ((x) << (64 - (y))))
    #define VIGIL_GET64(p) (((uint64_t)(p)[0]) ^ ((uint64_t)(p)[1] << 8) ^ ((uint64_t)(p)[2] << 16) ^ \\
        ((uint64_t)(p)[3] << 24) ^ ((uint64_t)(p)[4] << 32) ^ ((uint64_t)(p)[5] << 40) ^ \\
        ((uint64_t)(p)[6] << 48) ^ ((uint64_t)(p)[7] << 56))
    #define VIGIL_G(a, b, c, d, x, y) { \\
        v[a] = v[a] + v[b] + x; v[d] = VIGIL_ROTR64(v[d] ^ v[a], 32); \\
        v[c] = v[c] + v[d];     v[b] = VIGIL_ROTR64(v[b] ^ v[c], 24); \\
        v[a] = v[a] + v[b] + y; v[d] = VIGIL_ROTR64(v[d] ^ v[a], 16); \\
        v[c] = v[c] + v[d];     v[b] = VIGIL_ROTR64(v[b] ^ v[c], 63); }
    #define VIGIL_ROUND(r) { \\
        VIGIL_G(0, 4, 8, 12, m[vigil_b2b_sigma[r][0]], m[vigil_b2b_sigma[r][1]]); \\
        VIGIL_G(1, 5, 9, 13, m[vigil_b2b_sigma[r][2]], m[vigil_b2b_sigma[r][3]]); \\
        VIGIL_G(2, 6, 10, 14, m[vigil_b2b_sigma[r][4]], m[vigil_b2b_sigma[r][5]]); \\
        VIGIL_G(3, 7, 11, 15, m[vigil_b2b_sigma[r][6]], m[vigil_b2b_sigma[r][7]]); \\
        VIGIL_G(0, 5, 10, 15, m[vigil_b2b_sigma[r][8]], m[vigil_b2b_sigma[r][9]]); \\
        VIGIL_G(1, 6, 11, 12, m[vigil_b2b_sigma[r][10]], m[vigil_b2b_sigma[r][11]]); \\
        VIGIL_G(2, 7, 8, 13, m[vigil_b2b_sigma[r][12]], m[vigil_b2b_sigma[r][13]]); \\
        VIGIL_G(3, 4, 9, 14, m[vigil_b2b_sigma[r][14]], m[vigil_b2b_sigma[r][15]]); }
    static const uint64_t vigil_b2b_iv[8] = {
        0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
        0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL};
    static const uint8_t vigil_b2b_sigma[12][16] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
        {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
        {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
        {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
        {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

    /* h: the chained state; block: 128 bytes; counted: bytes so far (the high counter word stays 0 below 2**64) */
    static void vigil_b2b_compress(uint64_t *h, const uint8_t *block, uint64_t counted, int last) {
        uint64_t v[16], m[16];
        int i;
        for (i = 0; i < 8; i++) { v[i] = h[i]; v[i + 8] = vigil_b2b_iv[i]; }
        v[12] ^= counted;
        if (last) v[14] = ~v[14];
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(m, block, 128);  /* the words are little-endian: on such a machine, their bytes as they are */
    #else
        for (i = 0; i < 16; i++) m[i] = VIGIL_GET64(block + 8 * i);
    #endif
        /* the twelve rounds unrolled: every message index a constant, as in hashlib's blake2b-ref.c */
        VIGIL_ROUND(0) VIGIL_ROUND(1) VIGIL_ROUND(2) VIGIL_ROUND(3) VIGIL_ROUND(4) VIGIL_ROUND(5)
        VIGIL_ROUND(6) VIGIL_ROUND(7) VIGIL_ROUND(8) VIGIL_ROUND(9) VIGIL_ROUND(10) VIGIL_ROUND(11)
        for (i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
    }
    """
    const uint64_t* vigil_b2b_iv
    void vigil_b2b_compress(uint64_t* h, const uint8_t* block, uint64_t counted, int last) noexcept nogil


cdef char* _HEX = b"0123456789abcdef"


def short(str text):
    """blake2b(text.encode(), digest_size=5).hexdigest(): the same ten hex digits for every str."""
    cdef Py_ssize_t n
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &n)  # the str's own UTF-8 (cached): no copy
    cdef uint64_t[8] h
    cdef uint8_t[128] block
    cdef str out = PyUnicode_New(10, 127)  # ASCII: one byte a character, written in place below
    cdef Py_UCS1* chars = PyUnicode_1BYTE_DATA(out)
    cdef Py_ssize_t done = 0
    cdef int i
    cdef uint8_t byte
    memcpy(h, vigil_b2b_iv, sizeof(h))
    h[0] ^= 0x01010000ULL ^ 5  # parameter block: digest length 5, no key, fanout 1, depth 1
    while n - done > 128:  # every full block but the last
        vigil_b2b_compress(h, <const uint8_t*>data + done, done + 128, 0)
        done += 128
    memset(block, 0, 128)
    memcpy(block, data + done, n - done)
    vigil_b2b_compress(h, block, n, 1)
    for i in range(5):
        byte = <uint8_t>(h[0] >> (8 * i))
        chars[2 * i] = _HEX[byte >> 4]
        chars[2 * i + 1] = _HEX[byte & 15]
    return out
