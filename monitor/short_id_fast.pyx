# cython: language_level=3, auto_pickle=False, boundscheck=False, wraparound=False
"""The compiled half of monitor.short_id: BLAKE2b with a 5-byte digest (RFC 7693) in C, as 10 hex digits.

hashlib's object costs a copy of its state, an update and a hexdigest through three method calls and a new object
(~4,000 instructions; once a reading, for the id `seen` keeps). This is the reference algorithm on C integers,
read byte by byte (the same result on any byte order). tests/monitor/test_short_id.py compares it with hashlib.
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy, memset

cdef uint64_t[8] _IV = [
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL]

cdef uint8_t[12][16] _SIGMA = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3]]

cdef char* _HEX = b"0123456789abcdef"
DIGEST_SIZE = 5


cdef inline uint64_t _rotr(uint64_t x, int n) nogil:
    return (x >> n) | (x << (64 - n))


cdef inline void _g(uint64_t* v, int a, int b, int c, int d, uint64_t x, uint64_t y) nogil:
    v[a] = v[a] + v[b] + x
    v[d] = _rotr(v[d] ^ v[a], 32)
    v[c] = v[c] + v[d]
    v[b] = _rotr(v[b] ^ v[c], 24)
    v[a] = v[a] + v[b] + y
    v[d] = _rotr(v[d] ^ v[a], 16)
    v[c] = v[c] + v[d]
    v[b] = _rotr(v[b] ^ v[c], 63)


cdef void _compress(uint64_t* h, const uint8_t* block, uint64_t counted, bint last) nogil:
    cdef uint64_t[16] m
    cdef uint64_t[16] v
    cdef int i, j
    cdef const uint8_t* s
    for i in range(16):
        m[i] = 0
        for j in range(8):
            m[i] |= (<uint64_t>block[8 * i + j]) << (8 * j)
    for i in range(8):
        v[i] = h[i]
        v[i + 8] = _IV[i]
    v[12] ^= counted  # the high word of the 128-bit counter stays 0 below 2**64 bytes
    if last:
        v[14] = ~v[14]
    for i in range(12):
        s = _SIGMA[i]
        _g(v, 0, 4, 8, 12, m[s[0]], m[s[1]])
        _g(v, 1, 5, 9, 13, m[s[2]], m[s[3]])
        _g(v, 2, 6, 10, 14, m[s[4]], m[s[5]])
        _g(v, 3, 7, 11, 15, m[s[6]], m[s[7]])
        _g(v, 0, 5, 10, 15, m[s[8]], m[s[9]])
        _g(v, 1, 6, 11, 12, m[s[10]], m[s[11]])
        _g(v, 2, 7, 8, 13, m[s[12]], m[s[13]])
        _g(v, 3, 4, 9, 14, m[s[14]], m[s[15]])
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


def short(str text):
    """blake2b(text.encode(), digest_size=5).hexdigest(): the same ten hex digits for every str."""
    cdef Py_ssize_t n
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &n)  # the str's own UTF-8 (cached): no copy
    cdef uint64_t[8] h
    cdef uint8_t[128] block
    cdef char[10] out
    cdef Py_ssize_t done = 0
    cdef int i
    cdef uint8_t byte
    memcpy(h, _IV, sizeof(h))
    h[0] ^= 0x01010000ULL ^ 5  # parameter block: digest length 5, no key, fanout 1, depth 1
    while n - done > 128:  # every full block but the last
        _compress(h, <const uint8_t*>data + done, done + 128, False)
        done += 128
    memset(block, 0, 128)
    memcpy(block, data + done, n - done)
    _compress(h, block, n, True)
    for i in range(5):
        byte = <uint8_t>(h[0] >> (8 * i))
        out[2 * i] = _HEX[byte >> 4]
        out[2 * i + 1] = _HEX[byte & 15]
    return out[:10].decode("ascii")
