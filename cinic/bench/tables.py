"""The benchmark's report as a person reads it: Markdown tables of the timings, knobs and accuracies."""

from __future__ import annotations


def format_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table with right-aligned numbers, readable in a terminal too."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]

    def line(values):
        return "| " + " | ".join(v.rjust(w) if num else v.ljust(w)
                                 for v, w, num in zip(values, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else "-" * (w + 2) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def report_text(report: dict) -> str:
    m, d, st = report["machine"], report["data"], report["settings"]
    rows = report["results"]
    parts = [
        f"CINIC-10 Explorer bench, {report['date']}: {m['device']}, torch {m['torch']}, {m['cores']} cores, "
        f"load average {m['load_before']} -> {m['load_after']}",
        f"data {d['root']}: train {d['train']:,}, valid {d['valid']:,}, test {d['test']:,}",
        f"batch {st['batch_size']}, {m['threads']} thread(s); seed pipeline: {st['workers']} DataLoader workers; "
        f"project pipeline: recipe {st['recipe']}, train.py's settings {_knob_text(st['project_knobs'])}; "
        f"median of {st['epochs']} epochs after a warm-up",
        f"decode of the train split: cold {report['decode']['cold_s']:.2f} s "
        f"({report['decode']['images']:,} images, fresh cache), warm {report['decode']['warm_s']:.3f} s",
        "",
        format_table(["preset", "seed s/epoch", "project s/epoch", "ratio", "bare s/epoch", "project/bare",
                      "seed CPU s", "project CPU s", "CPU ratio", "seed img/s", "project img/s", "project s/120k img"],
                     [[r["preset"], r["seed_s_per_epoch"], r["project_s_per_epoch"], r["ratio"],
                       r["bare_s_per_epoch"], r["project_over_bare"],
                       r["seed_cpu_s_per_epoch"], r["project_cpu_s_per_epoch"], r["cpu_ratio"],
                       r["seed_images_per_s"], r["project_images_per_s"], r["project_s_per_120k_images"]]
                      for r in rows]),
        "",
        "memory (host: this process's high-water mark so far, and the largest DataLoader worker):",
        format_table(["preset", "host peak RSS MiB", "worker peak RSS MiB", "GPU peak MiB seed/project"],
                     [[r["preset"], r["host_peak_rss_mib"], r["workers_peak_rss_mib"], _gpu_text(r["gpu_peak_mib"])]
                      for r in rows]),
    ]
    evals = [[r["preset"], e["images"], e["batch_size"], e["dtype"], e["seconds"], e["images_per_s"], e["accuracy"]]
             for r in report["results"] for e in r.get("evaluation", [])]
    if evals:
        parts += ["", "evaluate() with confusion matrix, per-class and misclassified (reported results: float32):",
                  format_table(["preset", "images", "batch", "dtype", "seconds", "img/s", "accuracy %"], evals)]
    predicts = [[r["preset"], r["predict_one"]["first_ms"], r["predict_one"]["median_ms"]]
                for r in report["results"] if "predict_one" in r]
    if predicts:
        parts += ["", "one image file: open, convert to 32x32, classify, top 3:",
                  format_table(["preset", "first ms", "median ms"], predicts)]
    gaps = [[r["preset"], p["part"], p["without_s"], p["cost_s"], p["share_of_gap"], p["cost_cpu_s"], p["what"]]
            for r in report["results"] if "gap" in r for p in r["gap"]["parts"]]
    if gaps:
        parts += ["", "the gap to the bare loop (same network, data normalised once in memory, Adam, nothing else): "
                  + "; ".join(f"{r['preset']} project {r['gap']['project_s']:.3f} s, all parts rebuilt "
                              f"{r['gap']['all_parts_s']:.3f} s, bare {r['gap']['bare_s']:.3f} s"
                              for r in report["results"] if "gap" in r),
                  "each part switched off alone (cost = all parts - without it; share of all parts - bare):",
                  format_table(["preset", "part", "without s", "cost s", "share", "cost CPU s", "what"], gaps)]
    knobs = [[r["preset"], k["setting"], k["baseline_s"], k["variant_s"], k["speedup"],
              k["variant_first_epoch_s"], k["verdict"]] for r in report["results"] for k in r.get("knobs", [])]
    if knobs:
        parts += ["", "knobs, each against train.py's settings (s/epoch, speed-up = baseline / variant):",
                  format_table(["preset", "setting", "baseline s", "variant s", "speed-up", "variant 1st epoch s",
                                "verdict"], knobs)]
    accuracy = [[r["preset"], r["accuracy"]["epochs"], len(r["accuracy"]["runs"]), r["accuracy"]["seed_valid_acc"],
                 r["accuracy"]["project_valid_acc"]] for r in report["results"] if "accuracy" in r]
    if accuracy:
        parts += ["", "valid accuracy %, same model, seed and Adam lr 0.001, no augmentation (mean over seeds):",
                  format_table(["preset", "epochs", "seeds", "seed pipeline", "project pipeline"], accuracy)]
    return "\n".join(parts)


def _knob_text(knobs: dict) -> str:
    speed = knobs.get("speed", {})
    on = [name for name in ("channels_last", "cudnn_benchmark") if speed.get(name)] + (["amp"] if knobs.get("amp") else [])
    return "(" + (", ".join(on) or "plain fp32") + ")"


def _gpu_text(gpu: dict) -> str | None:
    if not gpu or gpu.get("seed") is None:
        return None
    return f"{gpu['seed']:.0f}/{gpu['project']:.0f}"
