"""An independent reading of search.html in plain Python over raw resource JSON.

The oracle test compares the engine against these functions. They share nothing with the
indexer or the SQL compiler: dates are parsed with ``datetime``, strings normalised here,
element paths walked by hand, and each prefix written from its definition in search.html#prefix
with exclusive upper bounds.
"""
from __future__ import annotations

import calendar
import glob
import json
import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

SYNTHEA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "synthea" / "smart-r4-synthea-2019"
INF = float("inf")


# --- data --------------------------------------------------------------------------------------

def synthea_resources() -> dict[tuple[str, str], dict]:
    """Every resource of the Synthea bundles, ``urn:uuid:`` references rewritten to ``Type/id``.

    Bundles repeat some organisations and practitioners; the last copy wins, as it would when
    loading them one after the other with PUT.
    """
    files = sorted(glob.glob(str(SYNTHEA / "_load_first" / "*.json"))) + sorted(glob.glob(str(SYNTHEA / "patients" / "*.json")))
    out: dict[tuple[str, str], dict] = {}
    for f in files:
        bundle = json.loads(Path(f).read_text())
        urls = {e["fullUrl"]: f'{e["resource"]["resourceType"]}/{e["resource"]["id"]}' for e in bundle["entry"]}
        text = json.dumps([e["resource"] for e in bundle["entry"]])
        text = re.sub(r'"(urn:uuid:[0-9a-f-]+)"', lambda m: json.dumps(urls.get(m.group(1), m.group(1))), text)
        for r in json.loads(text):
            out[(r["resourceType"], r["id"])] = r
    return out


# --- element access ----------------------------------------------------------------------------

def walk(value, path: str) -> list:  # noqa: ANN001
    """Values at a dotted path, lists flattened at every step."""
    items = value if isinstance(value, list) else [value]
    for step in path.split("."):
        nxt = []
        for it in items:
            if isinstance(it, dict) and step in it:
                v = it[step]
                nxt.extend(v if isinstance(v, list) else [v])
        items = nxt
    return items


def codings(value) -> list[dict]:  # noqa: ANN001
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict):
            out.extend(v.get("coding", []) if "coding" in v else [v] if "code" in v else [])
    return out


def norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def name_parts(names: list) -> list[str]:  # noqa: ANN001
    out = []
    for n in names:
        out += [n.get("family")] if n.get("family") else []
        for k in ("given", "prefix", "suffix"):
            out += n.get(k, [])
        out += [n["text"]] if n.get("text") else []
    return out


def string_match(values: list[str], query: str, modifier: str | None = None) -> bool:
    if modifier == "exact":
        return query in values
    if modifier == "contains":
        return any(norm(query) in norm(v) for v in values)
    return any(norm(v).startswith(norm(query)) for v in values)


def token_match(codes: list[dict], query: str) -> bool:
    if "|" not in query:
        return any(c.get("code") == query for c in codes)
    system, code = query.split("|", 1)
    for c in codes:
        if system == "" and c.get("system"):
            continue
        if system and c.get("system") != system:
            continue
        if code and c.get("code") != code:
            continue
        return True
    return False


def ref_ids(refs: list) -> list[str]:  # noqa: ANN001
    return [r["reference"] for r in refs if isinstance(r, dict) and "reference" in r]


# --- dates ------------------------------------------------------------------------------------

def date_bounds(text: str) -> tuple[float, float]:
    """[low, high) in epoch seconds, by precision."""
    if re.fullmatch(r"\d{4}", text):
        y = int(text)
        return _ts(datetime(y, 1, 1)), _ts(datetime(y + 1, 1, 1))
    if re.fullmatch(r"\d{4}-\d{2}", text):
        y, m = map(int, text.split("-"))
        return _ts(datetime(y, m, 1)), _ts(datetime(y, m, calendar.monthrange(y, m)[1]) + timedelta(days=1))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        d = datetime.fromisoformat(text)
        return _ts(d), _ts(d + timedelta(days=1))
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    step = timedelta(microseconds=1) if d.microsecond else timedelta(seconds=1)
    return d.timestamp(), (d + step).timestamp()


def _ts(d: datetime) -> float:
    return d.replace(tzinfo=timezone.utc).timestamp()


def period_bounds(p: dict) -> tuple[float, float]:
    low = date_bounds(p["start"])[0] if p.get("start") else -INF
    high = date_bounds(p["end"])[1] if p.get("end") else INF
    return low, high


def date_prefix(target: tuple[float, float], query: str) -> bool:
    prefix, text = (query[:2], query[2:]) if query[:2].isalpha() else ("eq", query)
    sl, sh = date_bounds(text)
    tl, th = target
    eq = tl >= sl and th <= sh
    if prefix == "ap":
        margin = max(0.1 * abs(time.time() - sl), 86400)
        return tl <= sh + margin and th >= sl - margin
    return {"eq": eq, "ne": not eq, "gt": th > sh, "lt": tl < sl, "ge": th > sh or eq, "le": tl < sl or eq,
            "sa": tl >= sh, "eb": th <= sl}[prefix]


def number_prefix(value: float, query: str) -> bool:
    """search.html#number with the target a point; an unprefixed value means its precision range."""
    prefix, text = (query[:2], query[2:]) if query[:2].isalpha() else ("eq", query)
    x = float(text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    # Bounds in exact decimal arithmetic: 0.8 + 0.05 must be 0.85, not 0.8500000000000001.
    low, high = Decimal(text) - Decimal(5).scaleb(-decimals - 1), Decimal(text) + Decimal(5).scaleb(-decimals - 1)
    inside = low <= Decimal(str(value)) < high
    if prefix == "eq":
        return inside
    if prefix == "ne":
        return not inside
    if prefix == "ap":
        margin = max(0.1 * abs(x), float(high) - x)
        return x - margin <= value <= x + margin
    return {"gt": value > x, "lt": value < x, "ge": value >= x, "le": value <= x, "sa": value > x,
            "eb": value < x}[prefix]


def quantity_match(q: dict, query: str) -> bool:
    parts = query.split("|")
    if not number_prefix(q["value"], parts[0]):
        return False
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        if system:
            return q.get("system") == system and (q.get("code") or q.get("unit")) == code
        return code in (q.get("code"), q.get("unit"))
    return True
