"""Facts about the published Kronos checkpoints: hub ids, pinned revisions, sha256 of model.safetensors."""
from __future__ import annotations

from typing import NamedTuple


class OfficialCheckpoint(NamedTuple):
    hub_id: str
    revision: str  # the commit the digest below was taken at
    safetensors_sha256: str
    preset: str  # name in kronos_quant.model.presets


OFFICIAL_CHECKPOINTS = {
    "NeoQuasar/Kronos-Tokenizer-base": OfficialCheckpoint(
        "NeoQuasar/Kronos-Tokenizer-base", "0e0117387f39004a9016484a186a908917e22426",
        "59d85f6af76a2c3b8240ea06cb21db4213b4eeca053f246b23e29cf832fc6bee", "tokenizer-base"),
    "NeoQuasar/Kronos-Tokenizer-2k": OfficialCheckpoint(
        "NeoQuasar/Kronos-Tokenizer-2k", "26966d0035065a0cae0ebad7af8ece35bc1fb51c",
        "b97ec46b3b72160509e289183eaf7bdf5f0dac5bb9b49522f6d46638a99a8717", "tokenizer-2k"),
    "NeoQuasar/Kronos-mini": OfficialCheckpoint(
        "NeoQuasar/Kronos-mini", "f4e68697d9d5aed55cef5c96aabc3376bcad9f81",
        "a7d5f37e2e9fbd9891f7d7d4f72574512dd1f704fee14223e0a8cd0fbf54197c", "mini"),
    "NeoQuasar/Kronos-small": OfficialCheckpoint(
        "NeoQuasar/Kronos-small", "901c26c1332695a2a8f243eb2f37243a37bea320",
        "b082dfcbd8e8c142a725c8bbb99781802f38fec81210e13479effb32b3c3e020", "small"),
    "NeoQuasar/Kronos-base": OfficialCheckpoint(
        "NeoQuasar/Kronos-base", "2b554741eca47781b64468546e77fef3e85130e6",
        "abff193acab6db1a0368e9773e75799d11403b6d054ee6d5f0a11aeabc5f4b83", "base"),
}

KNOWN_DIGESTS = {c.safetensors_sha256: c.hub_id for c in OFFICIAL_CHECKPOINTS.values()}
