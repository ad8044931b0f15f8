"""The charts of the report, drawn with gnuplot (PNG): throughput per durability pair,
delivery rate by fake-wechat latency, throughput by connections."""

import os
import shutil
import subprocess

from . import log
from .systems import DURABILITY, LABELS, SCALE_SYSTEMS, SYSTEMS


def gnuplot_charts(results, delivery, out_dir, work, scale=None):
    """throughput-<pair>.png (two panels: window 1 and 64, msgs/s by connections, one line
    per system with min–max bars), delivery.png and connections.png (msgs/s by connections,
    log x). Returns {pair, 'delivery' or 'connections': file}."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no charts")
        return {}
    charts = {}
    colors = {"mega": "#1f77b4", "mega-paused": "#17becf", "beanstalkd": "#2ca02c",
              "redis": "#d62728", "mega-http": "#9467bd", "mega-http-100": "#8c564b",
              "mega-paused-nolog": "#7f7f7f", "redis-benchmark": "#ff7f0e"}
    for pair_id, title, *_ in DURABILITY:
        if not results.get(pair_id):
            continue
        res = results[pair_id]
        script = ["set terminal pngcairo size 1200,480 font 'sans,10'",
                  f"set output '{os.path.join(out_dir, f'throughput-{pair_id}.png')}'",
                  f"set multiplot layout 1,2 title 'Acknowledged msgs/s, {title} (median, min-max)'",
                  "set logscale xy", "set xrange [0.7:400]", "set xtics (1, 16, 256)",
                  "set xlabel 'connections'", "set ylabel 'msgs/s'", "set grid",
                  "set key below", "set format y '%.0s%c'"]
        panels = 0
        for window in (1, 64):
            plots = []
            for s in SYSTEMS:
                if s not in res or s not in colors:
                    continue
                dat = os.path.join(work, f"{pair_id}-{s}-w{window}.dat")
                points = 0
                with open(dat, "w") as f:
                    for load, c in res[s].items():
                        conns, w = map(int, load.split("x"))
                        if w == window and c["median"] > 0:
                            f.write(f"{conns} {c['median']} {c['min']} {c['max']}\n")
                            points += 1
                if points:  # (a run with --loads may have no load of this window)
                    plots.append(f"'{dat}' using 1:2:3:4 with yerrorlines lw 2 pt 7 "
                                 f"lc rgb '{colors[s]}' title '{LABELS[s]}'")
            if plots:
                script += [f"set title 'window {window}'", "plot " + ", ".join(plots)]
                panels += 1
        if not panels:
            continue
        script.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
        charts[pair_id] = f"throughput-{pair_id}.png"
    delivery = [d for d in delivery if d.get("variant", "file") == "file"]  # plain HTTP
    if delivery:
        dat = os.path.join(work, "delivery.dat")
        with open(dat, "w") as f:
            for i, d in enumerate(delivery):
                f.write(f"{i} \"{d['latency_ms']} ms\" {d['msgs_per_s']}\n")
        script = ["set terminal pngcairo size 640,400 font 'sans,10'",
                  f"set output '{os.path.join(out_dir, 'delivery.png')}'",
                  "set title 'mega delivery to fake-wechat (queue of "
                  f"{delivery[0]['messages']:,})'", "set style fill solid 0.6",
                  "set boxwidth 0.6", "set ylabel 'msgs/s'", "set xlabel 'fake-wechat latency'",
                  "set yrange [0:*]", "set grid ytics", "unset key",
                  f"plot '{dat}' using 1:3:xtic(2) with boxes lc rgb '#1f77b4', "
                  f"'' using 1:3:(sprintf('%.0f', $3)) with labels offset 0,1"]
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
        charts["delivery"] = "delivery.png"
    conn = (scale or {}).get("connections")
    if conn and conn.get("systems"):
        plots, counts = [], set()
        for sys_id in SCALE_SYSTEMS:
            cells = conn["systems"].get(sys_id)
            if not cells:
                continue
            dat = os.path.join(work, f"connections-{sys_id}.dat")
            with open(dat, "w") as f:
                for n, c in sorted(cells.items(), key=lambda kv: int(kv[0])):
                    if c["median"] > 0:
                        f.write(f"{n} {c['median']} {c['min']} {c['max']}\n")
                        counts.add(int(n))
            style = "yerrorlines" if conn["runs"] > 1 else "linespoints"
            using = "1:2:3:4" if conn["runs"] > 1 else "1:2"
            plots.append(f"'{dat}' using {using} with {style} lw 2 pt 7 "
                         f"lc rgb '{colors[sys_id]}' title '{LABELS[sys_id]}'")
        if plots and counts:
            tics = ", ".join(f"'{n:,}' {n}" for n in sorted(counts))
            script = ["set terminal pngcairo size 800,480 font 'sans,10'",
                      f"set output '{os.path.join(out_dir, 'connections.png')}'",
                      f"set title 'Acknowledged msgs/s by connections, window {conn['window']}, "
                      "fsync at intervals'",
                      "set logscale x", f"set xrange [{min(counts) * 0.7}:{max(counts) * 1.4}]",
                      f"set xtics ({tics})", "set xlabel 'active connections (log scale)'",
                      "set ylabel 'msgs/s'", "set yrange [0:*]", "set grid", "set key below",
                      "set format y '%.0s%c'", "plot " + ", ".join(plots)]
            subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
            charts["connections"] = "connections.png"
    return charts

