"""The one rule by which the report says one system is faster than another: mega's minimum
over the rounds beats the peer's maximum ("faster"), mega's maximum is below the peer's
minimum ("slower"), anything else overlaps ("within noise"). Fewer than two rounds: no
claim. The rounds are interleaved across systems (sections.compare_durability)."""

MIN_RUNS = 2


def verdict(mine, peer):
    """mine, peer: summarized cells (min, max, runs)."""
    if min(len(mine.get("runs", [])), len(peer.get("runs", []))) < MIN_RUNS:
        return "too few runs"
    if mine["median"] <= 0 or peer["median"] <= 0:
        return "no result"
    if mine["min"] > peer["max"]:
        return "faster"
    if mine["max"] < peer["min"]:
        return "slower"
    return "within noise"


def verdict_lines(res, mine, peers, labels):
    """A markdown table: per load, `mine` against each of `peers` present in `res`."""
    peers = [p for p in peers if p in res]
    if mine not in res or not peers:
        return []
    lines = [f"{labels[mine]} against each peer (faster: its slowest round beat the peer's "
             "fastest; slower: its fastest round was below the peer's slowest; else within "
             "noise)", "",
             "| connections × window | " + " | ".join(labels[p] for p in peers) + " |",
             "|---|" + "---|" * len(peers)]
    for load, cell in res[mine].items():
        cells = [verdict(cell, res[p][load]) if load in res[p] else "—" for p in peers]
        lines.append(f"| {load.replace('x', ' × ')} | " + " | ".join(cells) + " |")
    return lines + [""]
