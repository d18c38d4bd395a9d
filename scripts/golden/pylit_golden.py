#!/usr/bin/env python3
"""Golden data for steptool-mdp `pylit.rs`: Python 3's own `repr`, `str.isprintable` and `eval`.

Writes `fixtures/golden/mdp/pylit_repr.json` with
- `strings`: [text, repr(text)] for tricky strings (quotes, escapes, non-printables, non-ASCII);
- `floats`: [IEEE-754 bits as u64, repr(float)] for edge cases, reward-like values and random floats;
- `literals`: [python literal text, repr(eval(text))] to check the parser on spellings repr never writes;
- `json_str`: [json text, str(json.loads(text))] for the JSON -> Python value conversion;
- `printable`: the code points Python considers unassigned (category Cn) and, among the others,
  the ranges that are not printable, so the Rust test can sweep every assigned code point.
  Characters unassigned in this Python's Unicode version are left out of the sweep because newer
  Unicode versions (the Rust crate's) may have assigned them.

Run from the repository root: `python3 scripts/golden/pylit_golden.py` (plain python3, no deps).
"""
import json
import random
import struct
import sys
import unicodedata
import warnings

STRINGS = [
    "", "a", "'", '"', "'\"", "it's", 'say "hi"', "it's \"quoted\"", "\\", "\\'", "back\\slash",
    "\n", "\r\n", "\t", "\x00", "\x07\x08\x0b\x0c", "\x1b[0m", "\x7f", "\x80", "\x9f", "\xa0", "\xad",
    "\xe9t\xe9", "na\u00efve", "e\u0301", "\u0301", "\u200b", "\u200d", "\u2028", "\u2029", "\u3000",
    "\ufeff", "\ufffd", "\uffff", "\ue000", "\U000f0000", "\U0010ffff", "\U0001f600", "\U0001f468\u200d\U0001f469",
    "\u0645\u0646 \u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u4e2d\u6587\u5b57", "\u3053\u3093\u306b\u3061\u306f",
    "\U00020000", "\u0e01\u0e33", "\u00a0\u1680\u2000\u200a\u202f\u205f", "\u061c", "\u180e", "\u2060\u2061",
    "{\"error\": \"\", \"response\": \"\\u0645\"}", "Action: f\nAction Input: {\n  \"q\": \"x\"\n}\n",
    "<|im_start|>system\nhi<|im_end|>\n", "tab\there", "mix 'single' and \"double\" \\ and \n",
    "\x01\x02\x03\x04\x05\x06\x0e\x0f\x10\x1f", "\u0085", "\u00ad\u0600\u06dd\u070f\U000110bd\U000e0001",
    "\U0001d11e", "\U000e007f", "\u2063", "end\\", "\\n", "'''", '"""',
]

FLOATS = [
    0.1 + 0.2, 1e16, 1e15, 9999999999999998.0, 1e-5, 1e-4, 0.0001234, 0.00001234, 123456789012345678.0,
    -0.0, 0.0, 1.0, -1.0, 0.5, 100.0, 1e22, 1e23, 1e100, 1e-300, 5e-324, 2.2250738585072014e-308,
    sys.float_info.max, 29 / 30, 0.9666666666666668, 1 / 3, 2 / 3, 9007199254740993.0, 4.35, 0.1, 1.5e300,
    float("inf"), float("-inf"), float("nan"), 12345.678, 1234567890123456.7, 0.30000000000000004,
]


def float_bits(f):
    return struct.unpack("<Q", struct.pack("<d", f))[0]


def reward_like():
    out = [k / 30 for k in range(0, 61)] + [k / 6 for k in range(0, 13)]
    # (1/K) sum_k (5 succ + contrib) / 10 with K = 3 (formats.md 2.5)
    for a in range(0, 11, 3):
        for b in range(0, 11, 2):
            for c in range(0, 11):
                out.append((a / 10 + b / 10 + c / 10) / 3)
    for a in (0, 0.5, 1):
        for b in (0, 0.5, 1):
            for c in (0, 0.5, 1):
                out.append((a + b + c) / 3)
    return out


def random_floats(rng, n):
    out = []
    while len(out) < n:
        f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if f == f:
            out.append(f)
    out += [rng.uniform(-1, 1) * 10 ** rng.randint(-8, 20) for _ in range(n)]
    # Values whose exact decimal expansion is one digit longer than the shortest repr and ends in
    # 5: two shortest candidates are equally close and Python keeps the one with an even digit.
    fracs = (0.125, 0.375, 0.625, 0.875, 0.25, 0.75, 0.5)
    out += [float(rng.randint(10**13, 10**16)) + rng.choice(fracs) for _ in range(n)]
    return out


LITERALS = [
    "[1, 2,]", "(1,)", "()", "(1)", "{'a': (1, 2), 2: [None]}", "'a' \"b\"", "u'x'", "0x1f", "0o17", "0b11",
    "1_000", "1e5", ".5", "5.", "-1.5e-7", "+3", "-0.0", "- 4", "'\\101\\x41\\u0041\\U00000041'", "'\\d\\q'",
    "'\\0'", "'\\777'", "\"'\"", "'''tri'ple'''", "\"\"\"a\nb\"\"\"", "r'\\n\\''", "[True, False, None]",
    "[ \t1 ,\n 2 ]", "{'k': {'n': [1.0, {'x': ()}]}}", "'a\\\nb'", "123456789012345678901234567890",
    "-123456789012345678901234567890", "00", "1E+16", "1_0.0_1e1_0", "['\\x7f', '\\xa0', '\\u2028']",
    "1.e5", "00.5", "0_0", "0e0", ".5e1", "-0", "0xFF_FF", "[[], {}, ()]", "'\\x00\\t'", "'\u00e9' 'x'",
    "{'a': 1, 'a': 2}", "((1, 2), [3, (4,)])", "-9223372036854775809", "1e309", "-1e309",
]

JSON_TEXTS = [
    '{"error": "", "response": {"status": 200, "wisdom": {"id": 2926, "text": "\\u0645\\u0646"}}}',
    '{"z": 1, "a": 1.0, "m": [true, false, null], "e": 1e-05, "big": 12345678901234567890}',
    '{"name": "Finish", "arguments": "{\\"return_type\\": \\"give_answer\\"}", "response": ""}',
    '[0.1, 2.5e+20, -0.0, 1E300, 3]',
    '{"quote": "it\'s", "both": "it\'s \\"x\\"", "nl": "a\\nb", "emoji": "\\ud83d\\ude00"}',
]


def ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def main():
    warnings.simplefilter("ignore")
    rng = random.Random(42)
    floats = FLOATS + reward_like() + random_floats(rng, 500)
    unassigned, nonprintable = [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if unicodedata.category(ch) == "Cn":
            unassigned.append(cp)
        elif not ch.isprintable():
            nonprintable.append(cp)
    out = {
        "python": sys.version.split()[0],
        "unicode_version": unicodedata.unidata_version,
        "strings": [[s, repr(s)] for s in STRINGS],
        "floats": [[float_bits(f), repr(f)] for f in floats],
        "literals": [[t, repr(eval(t))] for t in LITERALS],
        "json_str": [[t, str(json.loads(t))] for t in JSON_TEXTS],
        "printable": {"unassigned_ranges": ranges(unassigned), "nonprintable_ranges": ranges(nonprintable)},
    }
    with open("fixtures/golden/mdp/pylit_repr.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
