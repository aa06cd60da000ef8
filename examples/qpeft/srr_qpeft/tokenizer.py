# SPDX-License-Identifier: MIT
"""The two tokenizers srr reads (docs/tokenizers.md), encoding exactly as srr does so that the client's token
stream, and hence its windows, are srr's: HF tokenizer.json BPE (TinyStories-656K) and llama2.c tok*.bin
(stories260K, llama2.c run.c's encode). Only encoding is needed here."""
import heapq
import json
import os
import struct

from . import QpeftInputError


def _merge_all(symbols, lookup):
    """Repeatedly merges the adjacent pair of lowest priority (leftmost on ties) until none merges.
    lookup(left, right) -> (priority, merged_id) or None. A heap over a linked list, as srr's bpe::merge_all."""
    n = len(symbols)
    if n < 2:
        return symbols
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n)) + [-1]
    stamp = [0] * n
    heap = []
    for i in range(n - 1):
        m = lookup(symbols[i], symbols[i + 1])
        if m is not None:
            heap.append((m[0], i, i + 1, 0, 0, m[1]))
    heapq.heapify(heap)
    while heap:
        _, pos, right, ps, rs, new_id = heapq.heappop(heap)
        if stamp[pos] != ps or nxt[pos] != right or stamp[right] != rs:
            continue
        symbols[pos] = new_id
        stamp[pos] += 1
        stamp[right] += 1
        after = nxt[right]
        nxt[pos] = after
        if after >= 0:
            prev[after] = pos
        for p in (prev[pos], pos):
            if p >= 0 and nxt[p] >= 0:
                m = lookup(symbols[p], symbols[nxt[p]])
                if m is not None:
                    heapq.heappush(heap, (m[0], p, nxt[p], stamp[p], stamp[nxt[p]], m[1]))
    out, i = [], 0
    while i >= 0:
        out.append(symbols[i])
        i = nxt[i]
    return out


class HfBpe:
    """tokenizer.json with model BPE, normalizer Prepend/Replace, no pre-tokenizer (TinyStories-656K)."""

    def __init__(self, path):
        self.path = str(path)
        try:
            with open(self.path, encoding="utf-8") as f:
                root = json.load(f)
            model = root["model"]
            if model.get("type") != "BPE" or root.get("pre_tokenizer") is not None:
                raise QpeftInputError(f"tokenizer {self.path}: only BPE without a pre-tokenizer is supported")
            self.vocab = dict(model["vocab"])
            self.merges = {}
            for rank, m in enumerate(model["merges"]):
                left, right = m.split(" ") if isinstance(m, str) else m
                self.merges[(self.vocab[left], self.vocab[right])] = (rank, self.vocab[left + right])
            self.byte_fallback = bool(model.get("byte_fallback"))
            self.fuse_unk = bool(model.get("fuse_unk"))
            self.unk = self.vocab[model["unk_token"]] if model.get("unk_token") is not None else None
            self.normalizers = self._normalizers(root.get("normalizer"))
            self.added = [t["content"] for t in root.get("added_tokens", [])]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise QpeftInputError(f"tokenizer {self.path}: cannot read it ({e})") from None
        self.bos = self._special("bos_token")

    def _normalizers(self, n):
        if n is None:
            return []
        items = n["normalizers"] if n["type"] == "Sequence" else [n]
        for item in items:
            if item["type"] not in ("Prepend", "Replace") or (item["type"] == "Replace" and "String" not in item["pattern"]):
                raise QpeftInputError(f"tokenizer {self.path}: normalizer {item['type']} is not supported")
        return items

    def _special(self, key):
        d = os.path.dirname(self.path)
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    v = json.load(f).get(key)
                if v is not None:
                    return self.vocab[v["content"] if isinstance(v, dict) else v]
        raise QpeftInputError(f"tokenizer {self.path}: no {key} in tokenizer_config.json or special_tokens_map.json")

    def encode(self, text):
        for t in self.added:  # srr splits added tokens out first; the texts used here contain none
            if t in text:
                raise QpeftInputError(f"the text contains the special token '{t}', which this client does not split out")
        if not text:
            return []
        for n in self.normalizers:
            text = n["prepend"] + text if n["type"] == "Prepend" else text.replace(n["pattern"]["String"], n["content"])
        symbols, previous_unk = [], False
        for ch in text:
            i = self.vocab.get(ch)
            ids = [i] if i is not None else None
            if ids is None and self.byte_fallback:
                ids = [self.vocab.get("<0x%02X>" % b) for b in ch.encode("utf-8")]
                ids = ids if all(v is not None for v in ids) else None
            if ids is not None:
                symbols.extend(ids)
                previous_unk = False
            elif not (self.fuse_unk and previous_unk):  # a run of unknown characters is one <unk> with fuse_unk
                symbols.append(self.unk)
                previous_unk = True
        return _merge_all(symbols, lambda a, b: self.merges.get((a, b)))



class Llama2c:
    """llama2.c tok*.bin: ids 0..2 <unk>, BOS, EOS; 3..258 bytes; merges by highest score (run.c encode)."""

    def __init__(self, path, vocab_size):
        self.path = str(path)
        try:
            with open(self.path, "rb") as f:
                data = f.read()
            (self.max_len,) = struct.unpack_from("<i", data, 0)
            pos, self.pieces, self.scores = 4, [], []
            for _ in range(vocab_size):
                score, n = struct.unpack_from("<fi", data, pos)
                pos += 8
                self.pieces.append(data[pos:pos + n])
                self.scores.append(score)
                pos += n
        except (OSError, struct.error) as e:
            raise QpeftInputError(f"tokenizer {self.path}: cannot read it ({e})") from None
        self.lookup = {p: i for i, p in enumerate(self.pieces)}  # run.c's sorted lookup finds the first on duplicates
        for i in range(len(self.pieces) - 1, -1, -1):
            self.lookup[self.pieces[i]] = i
        self.bos = 1

    def encode(self, text):
        if not text:
            return []
        symbols = [self.lookup[b" "]]
        for ch in text:
            raw = ch.encode("utf-8")
            i = self.lookup.get(raw)
            symbols.extend([i] if i is not None else [b + 3 for b in raw])

        def merge(a, b):
            i = self.lookup.get(self.pieces[a] + self.pieces[b])
            # highest score first = lowest negated score; run.c never merges a score at or below -1e10
            return None if i is None or self.scores[i] <= -1e10 else (-self.scores[i], i)

        return _merge_all(symbols, merge)


def load(model_dir, vocab_size):
    """The tokenizer an export directory carries: tokenizer.json, else the first tok*.bin."""
    model_dir = str(model_dir)
    p = os.path.join(model_dir, "tokenizer.json")
    if os.path.exists(p):
        return HfBpe(p)
    bins = sorted(f for f in os.listdir(model_dir) if f.startswith("tok") and f.endswith(".bin"))
    if not bins:
        raise QpeftInputError(f"no tokenizer (tokenizer.json or tok*.bin) in '{model_dir}'")
    return Llama2c(os.path.join(model_dir, bins[0]), vocab_size)


def read_text(path, max_chars):
    """srr's read_text: the first max_chars bytes, cut back so that no UTF-8 character is split."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_chars + 1)
    except OSError as e:
        raise QpeftInputError(f"cannot read text file '{path}': {e.strerror}") from None
    if len(raw) > max_chars:
        cut = max_chars
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:
            cut -= 1
        raw = raw[:cut]
    return raw.decode("utf-8", errors="strict")


def stream_windows(stream, ctx, bos, skip, count):
    """srr's stream protocol: chunks of ctx-1 tokens, each window [BOS] + chunk; windows skip .. skip+count-1."""
    chunk = ctx - 1
    windows = [[bos] + stream[i:i + chunk] for i in range(0, len(stream), chunk)]
    if skip < 0 or skip + max(count, 0) > len(windows) or (count < 0 and skip >= len(windows)):
        raise QpeftInputError(f"the text has {len(windows)} windows of {ctx} tokens; windows {skip}..{skip + count - 1} "
                              "do not exist (give more --max-chars)")
    return windows[skip:] if count < 0 else windows[skip:skip + count]
