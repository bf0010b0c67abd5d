#!/usr/bin/env python3
"""Mutation fuzzing of the neuromapper binary on damaged runs (issue 11): counts outcomes.

Writes a small valid run (npy folders and a safetensors epoch, labels, inputs, predictions,
metrics), then makes many mutated copies of it: bit flips, truncations and overwrites of every
kind of file, hostile .npy / .safetensors / manifest headers, huge shapes, huge labels, FIFOs,
symlinks (to devices, folders, loops, other files) and a linked or blocked .neuromapper folder. Each
copy goes through `neuromapper info` and, for a subset, `neuromapper embed` with small parameters,
with a timeout and an address-space limit, and the outcome is counted:

  ok          exit 0
  error       exit 1 with an "error: ..." line on stderr (a clean refusal)
  silent      exit 1 without a message
  usage       exit 2
  panic       exit 101 (a Rust panic)
  signal      killed by a signal (abort on a failed allocation, segfault, ...)
  hang        still running at the timeout (killed)

plus the largest peak RSS of any case (per child, from os.wait4), messages over 2,000 bytes, and
raw control characters (ESC, BEL, ...) in any output. Exit status 1 when any panic, signal, hang,
silent error, raw control character or case over --max-rss-mib is seen.

Usage: bench/fuzz_runs.py [--bin target/debug/neuromapper] [--cases 1200] [--seed 1]
                          [--timeout 20] [--embed-every 4] [--workdir DIR] [--keep] [-v]
Standard library and numpy only. Build first: cargo build -p neuromapper --no-default-features
"""

import argparse
import collections
import json
import os
import random
import resource
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time

import numpy as np

N = 60
CLASSES = ["ant", "bee", "cow"]


def npy_bytes(arr, fortran=False, version=(1, 0)):
    """An .npy file's bytes as numpy writes them (header built here so versions 2.0/3.0 are possible)."""
    arr = np.asarray(arr)
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    shape = arr.shape
    dims = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(str(d) for d in shape)
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", dims)
    len_bytes = 2 if version[0] == 1 else 4
    pad = (64 - (8 + len_bytes + len(d) + 1) % 64) % 64
    header = (d + " " * pad + "\n").encode("latin-1" if version[0] < 3 else "utf-8")
    out = b"\x93NUMPY" + bytes(version)
    out += struct.pack("<H" if len_bytes == 2 else "<I", len(header)) + header
    data = arr.T.tobytes() if fortran else arr.tobytes()
    return out + data


def safetensors_bytes(tensors):
    """tensors: list of (name, array); F32/F16/I64 only."""
    dt = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64"}
    header, data = {}, b""
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def write_base_run(root, rng):
    os.makedirs(os.path.join(root, "epochs"))
    labels = np.arange(N) % len(CLASSES)
    manifest = {"format": "neuromapper-run/1", "name": "fuzz", "classes": CLASSES, "layers": ["l1", "l2"]}
    with open(os.path.join(root, "neuromapper.json"), "w") as f:
        json.dump(manifest, f)
    with open(os.path.join(root, "labels.npy"), "wb") as f:
        f.write(npy_bytes(labels.astype("<i8")))
    with open(os.path.join(root, "inputs.npy"), "wb") as f:
        f.write(npy_bytes(rng.integers(0, 255, size=(N, 4, 4), dtype=np.uint8)))
    with open(os.path.join(root, "metrics.json"), "w") as f:
        json.dump([{"epoch": e, "train_accuracy": 0.5, "test_accuracy": 0.4, "loss": 1.0} for e in range(3)], f)

    def layer(d, e):
        centres = np.eye(len(CLASSES), d) * (3.0 + e)
        return (centres[labels] + rng.normal(size=(N, d))).astype("<f4")

    for e in range(2):
        ed = os.path.join(root, "epochs", str(e))
        os.makedirs(ed)
        with open(os.path.join(ed, "l1.npy"), "wb") as f:
            f.write(npy_bytes(layer(8, e), version=(1, 0) if e == 0 else (3, 0)))
        with open(os.path.join(ed, "l2.npy"), "wb") as f:
            f.write(npy_bytes(layer(6, e).astype("<f2").reshape(N, 2, 3), fortran=(e == 1)))
        with open(os.path.join(ed, "predictions.npy"), "wb") as f:
            f.write(npy_bytes(((labels + e) % len(CLASSES)).astype("<i4")))
    with open(os.path.join(root, "epochs", "2.safetensors"), "wb") as f:
        f.write(safetensors_bytes([("l1", layer(8, 2)), ("l2", layer(6, 2).reshape(N, 2, 3)),
                                   ("predictions", (labels % len(CLASSES)).astype("<i8"))]))


# ---- mutations: each takes (root, rng) and returns a short description

def run_files(root):
    """The run's regular files (not links, FIFOs or devices an earlier mutation made: never read those)."""
    out = []
    for dp, dns, fns in os.walk(root):
        dns[:] = [d for d in dns if d != ".neuromapper"]
        out += [os.path.join(dp, f) for f in fns if stat.S_ISREG(os.lstat(os.path.join(dp, f)).st_mode)]
    return sorted(out)


def pick_file(root, rng, exts=None):
    files = [f for f in run_files(root) if exts is None or f.endswith(exts)]
    return files[rng.randrange(len(files))]


def header_biased_offset(size, rng):
    if size == 0:
        return 0
    return rng.randrange(min(size, 160)) if rng.random() < 0.7 else rng.randrange(size)


def m_bitflip(root, rng):
    p = pick_file(root, rng)
    b = bytearray(open(p, "rb").read())
    k = rng.choice([1, 1, 1, 2, 4, 16])
    for _ in range(k):
        if b:
            b[header_biased_offset(len(b), rng)] ^= 1 << rng.randrange(8)
    open(p, "wb").write(b)
    return "bitflip x%d %s" % (k, os.path.relpath(p, root))


def m_truncate(root, rng):
    p = pick_file(root, rng)
    b = open(p, "rb").read()
    keep = header_biased_offset(len(b), rng) if rng.random() < 0.5 else rng.randrange(len(b) + 1)
    open(p, "wb").write(b[:keep])
    return "truncate %s to %d" % (os.path.relpath(p, root), keep)


def m_overwrite(root, rng):
    p = pick_file(root, rng)
    b = bytearray(open(p, "rb").read())
    if b:
        at = header_biased_offset(len(b), rng)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        b[at:at + len(junk)] = junk
    open(p, "wb").write(b)
    return "overwrite %s" % os.path.relpath(p, root)


def m_append(root, rng):
    p = pick_file(root, rng)
    with open(p, "ab") as f:
        f.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100))))
    return "append to %s" % os.path.relpath(p, root)


HOSTILE_SHAPES = [
    "(300, 15372286728091293)", "(2305843009213693936,)", "(60, 4294967296, 4294967296)",
    "(0, 18446744073709551615, 2)", "(18446744073709551615,)", "(99999999999999999999999999999,)",
    "(60, 0)", "()", "(60,)", "(60, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)",
    "(-1, 8)", "(60, 8", "(1e9, 8)", "(60L, 8L)", "(30000000,)",
]
HOSTILE_DESCRS = ["'<\xe64'", "'<f4\x1b[31m'", "'<U10'", "'|O'", "'<c8'", "'>f8'", "'<f16'", "'<i99999999999999999999'",
                  "[('x', '<f4')]", "'f4'", "''", "'<'", "'\x00\x00\x00'", "'<\u00e6\u00e6'", "'=f4'", "'|b1'"]


def rewrite_npy_header(path, rng, shape=None, descr=None, version=None, raw=None):
    b = open(path, "rb").read()
    hl_size = 2 if b[6] == 1 else 4
    hl = struct.unpack("<H" if hl_size == 2 else "<I", b[8:8 + hl_size])[0]
    data = b[8 + hl_size + hl:]
    text = b[8 + hl_size:8 + hl_size + hl].decode("latin-1")
    if raw is not None:
        text = raw
    if shape is not None:
        start = text.index("'shape': ") + len("'shape': ")
        end = text.index(")", start) + 1
        text = text[:start] + shape + text[end:]
    if descr is not None:
        start = text.index("'descr': ") + len("'descr': ")
        end = text.index(",", start)
        text = text[:start] + descr + text[end:]
    major = version if version is not None else b[6]
    enc = text.encode("utf-8" if major == 3 else "latin-1", errors="replace")
    hs = 2 if major == 1 else 4
    if hs == 2 and len(enc) > 65535:
        enc = enc[:65535]
    out = b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<H" if hs == 2 else "<I", len(enc)) + enc + data
    open(path, "wb").write(out)


def m_npy_header(root, rng):
    p = pick_file(root, rng, (".npy",))
    kind = rng.randrange(5)
    if kind == 0:
        s = rng.choice(HOSTILE_SHAPES)
        rewrite_npy_header(p, rng, shape=s)
        what = "shape %s" % s
    elif kind == 1:
        d = rng.choice(HOSTILE_DESCRS)
        rewrite_npy_header(p, rng, descr=d, version=rng.choice([1, 3]))
        what = "descr %r" % d
    elif kind == 2:
        raw = rng.choice(["#" * 60000 + "\n", "{" * 5000, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (60, 8), }",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (60, 8), 'extra': 1}",
                          "\x1b]0;pwned\x07" * 100, ""])
        rewrite_npy_header(p, rng, raw=raw)
        what = "raw header %d bytes" % len(raw)
    elif kind == 3:
        b = bytearray(open(p, "rb").read())
        b[8:10] = struct.pack("<H", rng.choice([0, 1, 65535, 9]))
        if rng.random() < 0.5:
            b[6] = rng.choice([0, 2, 3, 4, 255])
        open(p, "wb").write(b)
        what = "header length / version"
    else:
        rewrite_npy_header(p, rng, descr="'<f4'", shape=rng.choice(["(60, 8)", "(60, 6)", "(61, 8)", "(59, 2, 4)"]))
        what = "plausible but wrong shape"
    return "npy header %s: %s" % (os.path.relpath(p, root), what)


def regular(p):
    if not (os.path.lexists(p) and stat.S_ISREG(os.lstat(p).st_mode)):
        raise ValueError("not a regular file: %s" % p)
    return p


def m_labels(root, rng):
    p = regular(os.path.join(root, "labels.npy"))
    regular(os.path.join(root, "neuromapper.json"))
    kind = rng.randrange(4)
    m = json.load(open(os.path.join(root, "neuromapper.json")))
    if kind == 0 or rng.random() < 0.5:
        m.pop("classes", None)  # class ids name themselves
        json.dump(m, open(os.path.join(root, "neuromapper.json"), "w"))
    labels = (np.arange(N) % 3).astype("<i8")
    if kind == 0:
        labels[rng.randrange(N)] = rng.choice([30_000_000, 2**31, 2**62, 100_001, 100_000, -5])
        open(p, "wb").write(npy_bytes(labels))
        return "labels: one huge label"
    if kind == 1:
        open(p, "wb").write(npy_bytes(np.full(N, 2**64 - 1, dtype="<u8")))
        return "labels: u64 max"
    if kind == 2:
        rewrite_npy_header(p, rng, shape="(2305843009213693936,)")
        return "labels: claims 2^61 elements"
    open(p, "wb").write(npy_bytes(np.zeros((N, 2), dtype="<i4")))
    return "labels: 2-D"


HOSTILE_ST_HEADERS = [
    '{"l1":{"dtype":"F32","shape":[60,8],"data_offsets":[0,18446744073709551615]}}',
    '{"l1":{"dtype":"F32","shape":[300,15372286728091293],"data_offsets":[0,1920]}}',
    '{"l1":{"dtype":"F32","shape":[60,8],"data_offsets":[1920,3840]}}',
    '{"l1":{"dtype":"F32","shape":[60,800],"data_offsets":[0,192000]}}',
    '{"l1":{"dtype":"X9","shape":[60,8],"data_offsets":[0,1920]}}',
    '{"\\u001b[31ml1":{"dtype":"F32","shape":[60,8],"data_offsets":[0,1920]}}',
    '{"l1":{"dtype":"F8_E4M3","shape":[60,8],"data_offsets":[0,480]}}',
    '{"l1":{"dtype":"BF16","shape":[60,8],"data_offsets":[0,960]}}',
    '{"l1":7}', '[]', '{}', '{"__metadata__":{"a":"b"}}', '[' * 100000, '"' + "x" * 100000 + '"',
    '{"l1":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}',
    '{"l1":{"dtype":"F32","shape":[0,8],"data_offsets":[0,0]}}',
]


def m_safetensors(root, rng):
    p = regular(os.path.join(root, "epochs", "2.safetensors"))
    b = open(p, "rb").read()
    hl = struct.unpack("<Q", b[:8])[0]
    data = b[8 + hl:]
    kind = rng.randrange(3)
    if kind == 0:
        h = rng.choice(HOSTILE_ST_HEADERS).encode()
        open(p, "wb").write(struct.pack("<Q", len(h)) + h + data)
        return "safetensors hostile header %s" % h[:60]
    if kind == 1:
        fake = rng.choice([0, 1, 7, 2**40, 2**64 - 1, len(b), hl + 1, hl - 1])
        open(p, "wb").write(struct.pack("<Q", fake) + b[8:])
        return "safetensors header length %d" % fake
    header = json.loads(b[8:8 + hl])
    name = rng.choice(list(header))
    field = rng.choice(["shape", "data_offsets", "dtype"])
    header[name][field] = rng.choice([[2**63, 2**63], [60, 8, 2**40], [], "F64", "I8", [5, 3], None, -1])
    h = json.dumps(header).encode()
    open(p, "wb").write(struct.pack("<Q", len(h)) + h + data)
    return "safetensors %s.%s edited" % (name, field)


def m_manifest(root, rng):
    p = os.path.join(root, "neuromapper.json")
    choices = [
        b"", b"{", b"null", b"[]", b'{"format": 5}', b'{"format": "neuromapper-run/2"}',
        b'{"format": "neuromapper-run/1", "layers": []}',
        b'{"format": "neuromapper-run/1", "layers": ["l1", "l1"]}',
        b'{"format": "neuromapper-run/1", "layers": ["nope"]}',
        b'{"format": "neuromapper-run/1", "layers": ["predictions"]}',
        b'{"format": "neuromapper-run/1", "layers": ["../../../etc/passwd"]}',
        b'{"format": "neuromapper-run/1", "classes": []}',
        b'{"format": "neuromapper-run/1", "classes": ["a"]}',
        b'{"format": "neuromapper-run/1", "name": "\\u001b]0;pwned\\u0007\\u001b[2J", "classes": ["\\u001b[31mant", "b\\u0000ee", "c\\u009bow"]}',
        ('{"format": "neuromapper-run/1", "classes": "%s"}' % ("x" * 2_000_000)).encode(),
        ('{"format": "neuromapper-run/1", "classes": [%s]}' % ",".join('"c%d"' % i for i in range(200_000))).encode(),
        ('{"format": "neuromapper-run/1", "name": "%s"}' % ("\\u001b" * 100_000)).encode(),
        b"[" * 100_000,
        b"\xff\xfe{}",
        b'{"format": "neuromapper-run/1"}' + b" " * (17 << 20),
    ]
    data = rng.choice(choices)
    replace_entry(p)
    open(p, "wb").write(data)
    return "manifest %r" % data[:50]


def m_metrics(root, rng):
    p = os.path.join(root, "metrics.json")
    data = rng.choice([b"", b"{}", b"[1,2]", b'[{"epoch": -1}]', b'[{"epoch": 99999999999}]',
                       b'[{"epoch": 1, "loss": "\\u001b[2J"}]', b"[" * 100_000, b"\xff"])
    replace_entry(p)
    open(p, "wb").write(data)
    return "metrics %r" % data[:40]


def replace_entry(p):
    """Removes what is at p unless it is a folder (writing into a FIFO would block this script)."""
    if os.path.lexists(p) and not stat.S_ISDIR(os.lstat(p).st_mode):
        os.remove(p)


def make_fifo(path):
    if os.path.lexists(path):
        os.remove(path)
    os.mkfifo(path)


def m_special(root, rng):
    files = run_files(root)
    kind = rng.randrange(9)
    p = rng.choice(files + [os.path.join(root, "neuromapper.json"), os.path.join(root, "labels.npy")])
    rel = os.path.relpath(p, root)
    if kind == 0:
        make_fifo(p)
        return "FIFO as %s" % rel
    os.remove(p)
    if kind == 1:
        os.symlink("/dev/zero", p)
        return "%s -> /dev/zero" % rel
    if kind == 2:
        os.symlink("/dev/urandom", p)
        return "%s -> /dev/urandom" % rel
    if kind == 3:
        os.symlink(p, p)
        return "%s -> itself (loop)" % rel
    if kind == 4:
        os.symlink(os.path.join(root, "nowhere"), p)
        return "%s -> nothing" % rel
    if kind == 5:
        os.symlink(root, p)
        return "%s -> the run folder" % rel
    if kind == 6:
        other = rng.choice([f for f in files if f != p])
        os.symlink(other, p)
        return "%s -> %s" % (rel, os.path.relpath(other, root))
    if kind == 7:
        os.mkdir(p)
        return "%s is a folder" % rel
    fifo = os.path.join(os.path.dirname(root), os.path.basename(root) + ".fifo")
    make_fifo(fifo)
    os.symlink(fifo, p)
    return "%s -> a FIFO outside the run" % rel


def m_layout(root, rng):
    kind = rng.randrange(6)
    ep = os.path.join(root, "epochs")
    if kind == 0:
        os.rename(os.path.join(ep, "1"), os.path.join(ep, rng.choice(["x1", "1\x1b[31m", "-1", "99999999999", "01"])))
        return "epoch folder renamed"
    if kind == 1:
        os.symlink(ep, os.path.join(ep, "7"))
        return "epochs/7 -> epochs"
    if kind == 2:
        os.rename(os.path.join(ep, "0", "l1.npy"), os.path.join(ep, "0", "l1\x1b]0;x\x07.npy"))
        return "layer file with an escape in its name"
    if kind == 3:
        shutil.rmtree(os.path.join(ep, "0"))
        shutil.rmtree(os.path.join(ep, "1"))
        os.remove(os.path.join(ep, "2.safetensors"))
        return "no epochs"
    if kind == 4:
        make_fifo(os.path.join(ep, "5"))
        return "epochs/5 is a FIFO"
    os.makedirs(os.path.join(ep, "2"))
    return "epoch 2 twice"


def m_cache(root, rng):
    c = os.path.join(root, ".neuromapper")
    kind = rng.randrange(4)
    if kind == 0:
        target = os.path.join(os.path.dirname(root), os.path.basename(root) + ".elsewhere")
        os.makedirs(target, exist_ok=True)
        os.symlink(target, c)
        return ".neuromapper -> a folder outside"
    if kind == 1:
        open(c, "w").write("not a folder")
        return ".neuromapper is a file"
    if kind == 2:
        os.makedirs(os.path.join(c, "embeddings"))
        make_fifo(os.path.join(c, "embeddings", "l1.x.nmc"))
        os.makedirs(os.path.join(c, "pca"))
        os.symlink("/dev/zero", os.path.join(c, "pca", "l1"))
        return "FIFO and device link inside .neuromapper"
    os.makedirs(os.path.join(c, "embeddings"))
    open(os.path.join(c, "embeddings", ".l1.x.nmc.tmp-999999999-0"), "wb").write(b"\0" * 1000)
    return "stale temp file in .neuromapper"


MUTATIONS = [(m_bitflip, 30), (m_truncate, 10), (m_overwrite, 12), (m_append, 4), (m_npy_header, 14), (m_labels, 5),
             (m_safetensors, 8), (m_manifest, 6), (m_metrics, 2), (m_special, 6), (m_layout, 3), (m_cache, 3)]


def limit_child():
    os.setsid()
    lim = 6 << 30  # address space: a runaway allocation fails (and is counted) instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))


def run_case(binary, args, timeout, outdir):
    """Runs the binary; returns (outcome, rc, max_rss_kib, stderr text, stdout text)."""
    out_p, err_p = os.path.join(outdir, "out"), os.path.join(outdir, "err")
    with open(out_p, "wb") as so, open(err_p, "wb") as se:
        pid = os.fork()
        if pid == 0:
            try:
                limit_child()
                os.dup2(so.fileno(), 1)
                os.dup2(se.fileno(), 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.execv(binary, [binary] + args)
            finally:
                os._exit(127)
        start = time.monotonic()
        hung = False
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.monotonic() - start > timeout:
                hung = True
                os.killpg(pid, signal.SIGKILL)
                wpid, status, ru = os.wait4(pid, 0)
                break
            time.sleep(0.005)
    stdout = open(out_p, "rb").read()
    stderr = open(err_p, "rb").read()
    rss = ru.ru_maxrss
    if hung:
        return "hang", None, rss, stderr, stdout
    if os.WIFSIGNALED(status):
        return "signal", -os.WTERMSIG(status), rss, stderr, stdout
    rc = os.WEXITSTATUS(status)
    if rc == 0:
        return "ok", rc, rss, stderr, stdout
    if rc == 1:
        # embed prints per-layer lines first; its final line is the "error: ..." summary.
        return ("error" if b"\nerror: " in b"\n" + stderr else "silent"), rc, rss, stderr, stdout
    if rc == 2:
        return "usage", rc, rss, stderr, stdout
    if rc == 101:
        return "panic", rc, rss, stderr, stdout
    return "exit%d" % rc, rc, rss, stderr, stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "..", "target", "debug", "neuromapper"))
    ap.add_argument("--cases", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--embed-every", type=int, default=4, help="also run embed on every K-th case (0: never)")
    ap.add_argument("--max-rss-mib", type=int, default=2048)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the mutated runs of bad cases")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        sys.exit("no binary at %s; build it: cargo build -p neuromapper --no-default-features" % binary)
    work = a.workdir or tempfile.mkdtemp(prefix="nm_fuzz_")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(a.seed)
    base = os.path.join(work, "base")
    shutil.rmtree(base, ignore_errors=True)
    write_base_run(base, np.random.default_rng(a.seed))
    weights = [w for _, w in MUTATIONS]
    counts = {"info": collections.Counter(), "embed": collections.Counter()}
    by_mutation = collections.defaultdict(collections.Counter)
    bad, long_msgs, raw_ctrl = [], 0, 0
    max_rss = (0, "")
    ctrl = set(range(0, 32)) - {9, 10, 13}
    ctrl.add(127)
    t0 = time.monotonic()
    for case in range(a.cases):
        cdir = os.path.join(work, "case%05d" % case)
        root = os.path.join(cdir, "run")
        shutil.rmtree(cdir, ignore_errors=True)
        os.makedirs(cdir)
        shutil.copytree(base, root, symlinks=True)
        crng = random.Random(rng.random())
        descs, kinds = [], []
        for _ in range(crng.choice([1, 1, 1, 2, 3])):
            m = crng.choices(MUTATIONS, weights)[0][0]
            kinds.append(m.__name__[2:])
            try:
                descs.append(m(root, crng))
            except Exception as e:  # a mutation that does not apply to this (already damaged) run
                descs.append("%s skipped (%s)" % (m.__name__, type(e).__name__))
        desc = "; ".join(descs)
        commands = [("info", ["info", root])]
        if a.embed_every and case % a.embed_every == 0:
            commands.append(("embed", ["embed", root, "--n-neighbors", "5", "--pca", "4", "--threads", "1"]))
        for name, args in commands:
            outcome, rc, rss, stderr, stdout = run_case(binary, args, a.timeout, cdir)
            counts[name][outcome] += 1
            by_mutation[kinds[0]][outcome] += 1
            if rss > max_rss[0]:
                max_rss = (rss, "case %d %s: %s" % (case, name, desc))
            if len(stderr) > 2000:
                long_msgs += 1
                print("case %d %s: %d-byte message (%s): %s" % (case, name, len(stderr), desc[:100],
                      stderr[:300].decode("utf-8", "replace")), flush=True)
            has_ctrl = any(b in ctrl for b in stderr) or any(b in ctrl for b in stdout)
            raw_ctrl += has_ctrl
            is_bad = outcome in ("panic", "signal", "hang", "silent") or outcome.startswith("exit") \
                or has_ctrl or rss > a.max_rss_mib * 1024
            if is_bad:
                bad.append((case, name, outcome, rss, desc, stderr[-600:]))
            if a.verbose or is_bad:
                print("case %d %s: %s (rc %s, %d MiB) %s" % (case, name, outcome, rc, rss // 1024, desc), flush=True)
                if is_bad:
                    print("   ", stderr[-600:].decode("utf-8", "replace").replace("\n", "\n    "), flush=True)
        if not (a.keep and bad and bad[-1][0] == case):
            shutil.rmtree(cdir, ignore_errors=True)
        if (case + 1) % 100 == 0:
            print("... %d cases, %.0f s" % (case + 1, time.monotonic() - t0), file=sys.stderr, flush=True)
    total = sum(counts["info"].values()) + sum(counts["embed"].values())
    print()
    print("neuromapper fuzz: %d mutated runs (seed %d), %d invocations in %.0f s, binary %s"
          % (a.cases, a.seed, total, time.monotonic() - t0, binary))
    keys = ["ok", "error", "silent", "usage", "panic", "signal", "hang"]
    extra = sorted({k for c in counts.values() for k in c} - set(keys))
    for name in ("info", "embed"):
        c = counts[name]
        print("  %-6s %5d runs: " % (name, sum(c.values())) + ", ".join("%s %d" % (k, c[k]) for k in keys + extra))
    print("  max RSS %.1f MiB (%s)" % (max_rss[0] / 1024, max_rss[1][:160]))
    print("  messages over 2,000 bytes: %d; outputs with raw control characters: %d" % (long_msgs, raw_ctrl))
    print("  by first mutation:")
    for k in sorted(by_mutation):
        print("    %-14s %s" % (k, dict(by_mutation[k])))
    if not a.workdir and not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    failed = [b for b in bad]
    print("  bad cases: %d" % len(failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
