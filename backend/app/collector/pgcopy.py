"""PostgreSQL's binary COPY format, written by NumPy for whole columns at once.

Bulk loads send prices as NUMERIC, timestamps as timestamptz and symbols as text in the
server's own binary representation, so the server neither parses text nor converts floats:
with no per-row Python and no per-value conversion on either side, COPY runs at the speed
of the table's indexes.

A price becomes the NUMERIC that PostgreSQL's own ``float8::numeric`` cast would give (15
significant digits, ``DBL_DIG``); the column's scale then rounds it as usual.
"""

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)

SIGNIFICANT_DIGITS = 15
# Five base-10000 digits hold any 15-digit mantissa wherever the decimal point falls.
NUMERIC_GROUPS = 5
NUMERIC = np.dtype(
    [
        ("len", ">i4"),
        ("ndigits", ">i2"),
        ("weight", ">i2"),
        ("sign", ">u2"),
        ("dscale", ">i2"),
        ("digits", ">i2", (NUMERIC_GROUPS,)),
    ]
)
TIMESTAMPTZ = np.dtype([("len", ">i4"), ("value", ">i8")])
INT4 = np.dtype([("len", ">i4"), ("value", ">i4")])
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds


def text_field(value: str) -> np.dtype:
    """The dtype of a text field holding `value`: length, then its UTF-8 bytes."""
    return np.dtype([("len", ">i4"), ("value", f"S{len(value.encode())}")])


def fill_text(field: npt.NDArray[np.void], value: str) -> None:
    encoded = value.encode()
    field["len"] = len(encoded)
    field["value"] = encoded


def fill_timestamptz(field: npt.NDArray[np.void], unix_us: npt.NDArray[np.int64]) -> None:
    field["len"] = 8
    field["value"] = unix_us - _POSTGRES_EPOCH_US


def fill_int4(field: npt.NDArray[np.void], values: npt.NDArray[np.integer]) -> None:
    field["len"] = 4
    field["value"] = values


def fill_numeric(field: npt.NDArray[np.void], values: npt.NDArray[np.float64]) -> None:
    """Positive finite floats as NUMERIC of their 15 significant digits.

    Each value is mantissa m (15 digits) × 10^p; p is lowered to a multiple of 4 (the
    mantissa gains up to three zeros, staying below 10^18) so the mantissa splits into
    base-10000 digits; the server strips the leading and trailing zero digits."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("NUMERIC encoding takes positive finite prices only")
    exponent = np.floor(np.log10(values)).astype(np.int64)
    mantissa, exact = _round(values, SIGNIFICANT_DIGITS - 1 - exponent)
    # log10 is off by one just below powers of ten, and rounding can carry into a 16th digit.
    low = exact & (mantissa < 10 ** (SIGNIFICANT_DIGITS - 1))
    if low.any():
        exponent[low] -= 1
        mantissa[low], exact[low] = _round(values[low], SIGNIFICANT_DIGITS - 1 - exponent[low])
    high = exact & (mantissa >= 10**SIGNIFICANT_DIGITS)
    mantissa[high] //= 10
    exponent[high] += 1
    # Where the scaled value sits too close to half a unit to trust the fast product, take
    # the correctly rounded digits from Python's formatting (the same digits as C's %.15g).
    for i in np.flatnonzero(~exact):
        shown, _, power_text = f"{values[i]:.{SIGNIFICANT_DIGITS - 1}e}".partition("e")
        mantissa[i] = int(shown.replace(".", ""))
        exponent[i] = int(power_text)
    power = exponent - (SIGNIFICANT_DIGITS - 1)  # value = mantissa × 10^power
    aligned = np.floor_divide(power, 4) * 4
    mantissa = mantissa * 10 ** (power - aligned)
    field["len"] = 8 + 2 * NUMERIC_GROUPS
    field["ndigits"] = NUMERIC_GROUPS
    field["weight"] = aligned // 4 + NUMERIC_GROUPS - 1
    field["sign"] = 0
    field["dscale"] = np.maximum(-aligned, 0)
    digits = np.empty((len(values), NUMERIC_GROUPS), dtype=np.int64)
    for group in range(NUMERIC_GROUPS - 1, -1, -1):
        mantissa, digits[:, group] = np.divmod(mantissa, 10_000)
    field["digits"] = digits


_POWERS_OF_TEN = np.array([10**k for k in range(28)], dtype=np.longdouble)


def _round(
    values: npt.NDArray[np.float64], powers: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """values × 10^powers rounded to integers, in extended precision (10^0 … 10^27 are exact
    there), and whether each rounding is certain (the product is not within 10^-3 of a tie).
    Prices below 10^14 always have powers in 0 … 27; anything else takes the careful path."""
    in_table = (powers >= 0) & (powers < len(_POWERS_OF_TEN))
    index = np.where(in_table, powers, 0)
    scaled = values.astype(np.longdouble) * _POWERS_OF_TEN[index]
    # The double product finds the nearest integer (maybe off by one near a tie); the
    # extended-precision remainder says which way the true product rounds.
    nearest = np.rint(values * _POWERS_OF_TEN[index].astype(np.float64))
    remainder = (scaled - nearest).astype(np.float64)
    nearest += (remainder > 0.5).astype(np.float64) - (remainder < -0.5)
    remainder = np.abs(remainder - np.rint(remainder))
    exact = in_table & (np.abs(remainder - 0.5) > 1e-3) & (nearest < 2.0**62)
    return np.where(exact, nearest, 0).astype(np.int64), exact
