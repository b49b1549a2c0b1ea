"""HyperLogLog sketches for ``RDD.countApproxDistinct``.

As in PySpark, every element is first reduced to ``portable_hash(x) & 0xFFFFFFFF`` (so
two elements count as one only when those 32 bits agree). Each 32-bit value is then
spread over 64 bits by the splitmix64 finalizer; the top ``p`` bits choose a register
and the register keeps the largest rank (leading zeros + 1) of the remaining bits.
The estimate is the harmonic-mean HyperLogLog estimate, switched to linear counting
while it is small (at most 2.5 m with empty registers left). With 64-bit hashes no
large-range correction is needed.

The precision follows Spark: ``p = ceil(2 log2(1.054 / relativeSD))``, at least 4.
Registers are a ``bytearray`` up to p = 16 and a dict (only the registers that were
touched) above, so very small relativeSD values do not allocate 2^p bytes up front.
"""

import math

__all__ = ["precision", "sketch", "merge", "estimate"]

_M64 = (1 << 64) - 1
_DENSE_MAX_P = 16


def precision(relativeSD):
    """The register-index bits for a relative standard deviation.

    Examples
    --------
    >>> precision(0.05), precision(0.5)
    (9, 4)
    """
    return max(4, int(math.ceil(2.0 * math.log(1.054 / relativeSD) / math.log(2))))


def _mix(h):
    z = (h + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def sketch(hashes, p):
    """The registers of one partition's 32-bit hashes: a bytearray (p <= 16) or a
    dict {register: rank}.

    Examples
    --------
    >>> round(estimate(sketch(range(1000), 9), 9) / 1000, 1)
    1.0
    """
    shift = 64 - p
    low = (1 << shift) - 1
    width = shift
    if p <= _DENSE_MAX_P:
        regs = bytearray(1 << p)
        for h in hashes:
            z = _mix(h)
            i = z >> shift
            rank = width - (z & low).bit_length() + 1
            if rank > regs[i]:
                regs[i] = rank
        return regs
    regs = {}
    get = regs.get
    for h in hashes:
        z = _mix(h)
        i = z >> shift
        rank = width - (z & low).bit_length() + 1
        if rank > get(i, 0):
            regs[i] = rank
    return regs


def merge(a, b):
    """Merges register set b into a (register-wise maximum); returns a."""
    if isinstance(a, dict):
        for i, r in b.items():
            if r > a.get(i, 0):
                a[i] = r
        return a
    for i, r in enumerate(b):
        if r > a[i]:
            a[i] = r
    return a


def estimate(regs, p):
    """The estimated number of distinct hashes behind the registers."""
    m = 1 << p
    if isinstance(regs, dict):
        zeros = m - len(regs)
        total = zeros + sum(2.0 ** -r for r in regs.values())
    else:
        zeros = regs.count(0)
        total = sum(2.0 ** -r for r in regs)
    if m == 16:
        alpha = 0.673
    elif m == 32:
        alpha = 0.697
    elif m == 64:
        alpha = 0.709
    else:
        alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / total
    if raw <= 2.5 * m and zeros:
        return int(round(m * math.log(m / zeros)))
    return int(round(raw))
