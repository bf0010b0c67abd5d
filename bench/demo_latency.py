#!/usr/bin/env python3
"""Live-demo latency (issue 5): how long after each epoch's capture its embedding reaches browsers.

  python3 bench/demo_latency.py [--bin target/release/neuromapper] [-- extra demo options]

Runs `neuromapper demo --no-open --port 0` in a temporary folder, follows the server's event stream
(/api/events, as a browser does) and the demo's log, timestamping both on one clock. Prints per epoch:
when it was captured, when its first and its last layer were pushed, and when the refinement of all
epochs after training was shown. Standard library only."""
import json, os, queue, re, subprocess, sys, tempfile, threading, time, urllib.request

def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    binary = args[args.index("--bin") + 1] if "--bin" in args else "target/release/neuromapper"
    out = tempfile.mkdtemp(prefix="nm-demo-latency-")
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0
    proc = subprocess.Popen([binary, "demo", "--no-open", "--port", "0", "--out", os.path.join(out, "run")] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put((now(), l.rstrip())) for l in proc.stdout], daemon=True).start()

    captured, events, url, summary, n_layers = {}, [], None, None, None
    def follow(url):
        with urllib.request.urlopen(url + "api/events") as r:
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    events.append((now(), json.loads(line[5:])))
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            t, line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            t, line = None, ""
        if line:
            print(f"[{t:7.1f} s] {line}", flush=True)
            m = re.match(r"epoch (\d+)/\d+:", line)
            if m:
                captured[int(m.group(1))] = t
            m = re.search(r"viewer at (http://\S+/)", line)
            if m and url is None:
                url = m.group(1)
                n_layers = len(json.load(urllib.request.urlopen(url + "api/run"))["layers"])
                threading.Thread(target=follow, args=(url,), daemon=True).start()
            if line.startswith("trained "):
                summary = line
        refined = {e["layer"] for _, e in events if e.get("type") == "done" and e.get("refined")}
        if n_layers and len(refined) >= n_layers:
            break
    proc.terminate()
    proc.wait(timeout=30)

    print()
    print("epoch  captured   first layer   all layers   (seconds since `demo` started; latency after capture)")
    worst = 0.0
    for e in sorted(captured):
        done = {}
        for t, ev in events:
            if ev.get("type") == "done" and ev.get("view") == "live" and not ev.get("refined") and e in ev.get("epochs", []):
                done.setdefault(ev["layer"], t)
        if len(done) < (n_layers or 1):
            print(f"{e:5d}  {captured[e]:7.1f}   (pushed before the event stream was open)" if e == 0 else f"{e:5d}  {captured[e]:7.1f}   missing: {len(done)}/{n_layers} layers")
            continue
        first, last = min(done.values()), max(done.values())
        if e > 0:
            worst = max(worst, last - captured[e])
        print(f"{e:5d}  {captured[e]:7.1f}   {first:7.1f} (+{first - captured[e]:.1f})   {last:7.1f} (+{last - captured[e]:.1f})")
    fin = [t for t, ev in events if ev.get("type") == "training_finished"]
    refined = [t for t, ev in events if ev.get("type") == "done" and ev.get("refined")]
    if summary:
        print(summary)
    if fin and refined:
        print(f"training finished at {fin[0]:.1f} s; all epochs of {len(refined)} layers refined and shown at {max(refined):.1f} s (+{max(refined) - fin[0]:.1f})")
    print(f"worst latency from capture to all layers shown (epochs >= 1): {worst:.1f} s")

if __name__ == "__main__":
    main()
