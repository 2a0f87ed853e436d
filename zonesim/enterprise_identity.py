"""Who an enterprise is: its unified social credit code (USCC), its name and its people, drawn
vectorized per enterprise index from the zone's vocabulary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import numpy.typing as npt

from zonesim import bytecols
from zonesim.enterprise_population import (
    DATASET,
    ZoneMix,
    zone_mix,
)
from zonesim.industry import CLUSTERS
from zonesim.rng import stream_key, uniforms
from zonesim.uscc import ALPHABET, VALUES, WEIGHTS

_NAME_CHARS = (
    "华晋泰宏鑫瑞恒通源丰盛达兴昌远建新立正德佳博安中嘉隆润凯信祥亿联诚汇腾龙宇金海天科光明"
    "利和荣富晟弘益创智云峰煜骏磊鼎卓"
)
_SUFFIXES = ("有限公司", "股份有限公司", "有限责任公司")
_SUFFIX_CDF = (0.7, 0.85)
CODEPOINTS = np.array([ord(ch) for ch in ALPHABET], dtype=np.uint32)
# GB 11714 values of the code characters (letters A=10 … Z=35), by alphabet index.
_ORG_VALUES = np.array([int(ch, 36) for ch in ALPHABET], dtype=np.int64)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)


def uscc_codes(
    mix: ZoneMix, indices: npt.NDArray[np.int64], old: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Valid credit codes of enterprises as alphabet indices (n × 18), one-to-one with their
    indices (vectorized).

    The organization code (GB 11714: 8 characters and a check) is an affine map of the index
    modulo 31^6 (new "MA…" codes) or 10^8 (old all-digit codes), a bijection for a coprime factor.
    Characters are handled as alphabet indices, which are also their GB 32100 values.
    """
    a6, b6, a8, b8 = mix.org
    n = len(indices)
    body = np.empty((n, 8), dtype=np.int64)
    body[:, 0], body[:, 1] = VALUES["M"], VALUES["A"]
    v = (a6 * indices + b6) % 31**6
    for k in range(7, 1, -1):
        v, body[:, k] = np.divmod(v, 31)
    digits = np.empty((n, 8), dtype=np.int64)
    d = (a8 * indices + b8) % 10**8
    for k in range(7, -1, -1):
        d, digits[:, k] = np.divmod(d, 10)
    body = np.where(old[:, None], digits, body)
    org_check = 11 - (_ORG_VALUES[body] * _ORG_WEIGHTS).sum(axis=1) % 11
    org_check = np.where(org_check == 10, VALUES["X"], np.where(org_check == 11, 0, org_check))
    head = np.array([VALUES[ch] for ch in "91" + mix.region], dtype=np.int64)
    first17 = np.concatenate([np.broadcast_to(head, (n, 8)), body, org_check[:, None]], axis=1)
    check = (31 - (first17 * _WEIGHTS).sum(axis=1) % 31) % 31
    return np.concatenate([first17, check[:, None]], axis=1)


@cache
def cluster_table() -> tuple[npt.NDArray[Any], ...]:
    """Flattened per-cluster vocabularies: (word offsets, word counts, words, code offsets, code
    counts, 4-, 3- and 2-digit codes)."""
    words = [w for c in CLUSTERS for w in c.name_words]
    codes = [k for c in CLUSTERS for k in c.codes]
    word_counts = np.array([len(c.name_words) for c in CLUSTERS])
    code_counts = np.array([len(c.codes) for c in CLUSTERS])
    return (
        np.concatenate(([0], np.cumsum(word_counts)[:-1])),
        word_counts,
        np.array(words),
        np.concatenate(([0], np.cumsum(code_counts)[:-1])),
        code_counts,
        np.array(codes),
        np.array([k[:4] for k in codes]),
        np.array([k[:3] for k in codes]),
    )


@dataclass(frozen=True)
class Vocabulary:
    """The pieces names and industry codes are made of, for one zone: a name is prefix + two
    brand characters + a word of the cluster + a suffix; codes are the 4-digit classes, then
    the same cut to 3 digits, then to 2."""

    prefix: tuple[str, ...]  # 0: 山西, 1: the zone's city
    chars: tuple[str, ...]
    words: tuple[str, ...]
    suffixes: tuple[str, ...]
    codes: tuple[str, ...]


@cache
def zone_vocabulary(seed: int, zone_code: str) -> Vocabulary:
    _, _, words, _, _, codes4, codes3, codes2 = cluster_table()
    return Vocabulary(
        prefix=("山西", zone_mix(seed, zone_code).city),
        chars=tuple(_NAME_CHARS),
        words=tuple(words.tolist()),
        suffixes=_SUFFIXES,
        codes=tuple(codes4.tolist() + codes3.tolist() + codes2.tolist()),
    )


@dataclass(frozen=True)
class EncodedVocabulary:
    """A Vocabulary in UTF-8, as the wire view writes it."""

    prefix: tuple[bytes, ...]
    chars: tuple[bytes, ...]
    words: tuple[bytes, ...]
    suffixes: tuple[bytes, ...]
    codes: tuple[bytes, ...]


@cache
def name_tables(seed: int, zone_code: str) -> EncodedVocabulary:
    vocabulary = zone_vocabulary(seed, zone_code)
    pieces = [getattr(vocabulary, f) for f in ("prefix", "chars", "words", "suffixes", "codes")]
    # The wire view and the forms write the pieces as they are: no escapes in JSON or XML.
    for text in (t for group in pieces for t in group):
        if json.dumps(text, ensure_ascii=False) != f'"{text}"' or xml_escape(text) != text:
            raise ValueError(f"{text!r} needs escaping in JSON or XML")
    return EncodedVocabulary(*(bytecols.encoded(group) for group in pieces))


@dataclass(frozen=True)
class IdentityParts:
    """What does not change from year to year, for a run of enterprises, as indices: the credit
    code's characters (n × 18, into ALPHABET) and the choices of Vocabulary."""

    uscc: npt.NDArray[np.int64]
    prefix: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]
    word: npt.NDArray[np.int64]
    suffix: npt.NDArray[np.int64]
    code: npt.NDArray[np.int64]


def identity_parts(
    seed: int, zone_code: str, indices: npt.NDArray[np.int64], clusters: npt.NDArray[np.int64]
) -> IdentityParts:
    """Return the identity of enterprises (vectorized)."""
    mix = zone_mix(seed, zone_code)
    stream = stream_key(seed, zone_code, DATASET, "identity")
    u = uniforms(stream, indices[:, None] * 8 + np.arange(8, dtype=np.int64)[None, :])
    word_at, word_n, _, code_at, code_n, codes4, _, _ = cluster_table()
    first = (u[:, 2] * len(_NAME_CHARS)).astype(np.int64)
    # The second character of the firm's brand differs from the first.
    second = (u[:, 3] * (len(_NAME_CHARS) - 1)).astype(np.int64)
    second += second >= first
    klass = code_at[clusters] + (u[:, 6] * code_n[clusters]).astype(int)
    # A few systems record the 3-digit group (中类) or only the division (大类).
    cut = np.where(u[:, 7] < 0.02, 2, np.where(u[:, 7] < 0.07, 1, 0))
    return IdentityParts(
        uscc=uscc_codes(mix, indices, u[:, 0] < 0.25),
        prefix=(u[:, 1] >= 0.6).astype(np.int64),
        first=first,
        second=second,
        word=(word_at[clusters] + (u[:, 4] * word_n[clusters]).astype(int)).astype(np.int64),
        suffix=np.searchsorted(np.array(_SUFFIX_CDF), u[:, 5], side="right").astype(np.int64),
        code=(klass + len(codes4) * cut).astype(np.int64),
    )


@dataclass(frozen=True)
class Identities:
    """What does not change from year to year, for a run of enterprises."""

    uscc: list[str]
    name: list[str]
    industry_code: list[str]


def identities_of(parts: IdentityParts, vocabulary: Vocabulary) -> Identities:
    """Return the identities of IdentityParts as text."""
    uscc: list[str] = np.ascontiguousarray(CODEPOINTS[parts.uscc]).view("<U18").ravel().tolist()
    v = vocabulary
    names = [
        v.prefix[p] + v.chars[a] + v.chars[b] + v.words[w] + v.suffixes[s]
        for p, a, b, w, s in zip(
            parts.prefix.tolist(),
            parts.first.tolist(),
            parts.second.tolist(),
            parts.word.tolist(),
            parts.suffix.tolist(),
            strict=True,
        )
    ]
    return Identities(uscc, names, [v.codes[k] for k in parts.code.tolist()])


def identities(
    seed: int, zone_code: str, indices: npt.NDArray[np.int64], clusters: npt.NDArray[np.int64]
) -> Identities:
    """Return credit codes, names and industry codes of enterprises (vectorized)."""
    parts = identity_parts(seed, zone_code, indices, clusters)
    return identities_of(parts, zone_vocabulary(seed, zone_code))
