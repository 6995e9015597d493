"""What the GIMP plug-in itself costs: a 12-megapixel layer through each procedure in a real GIMP 3.0.4.

    python benchmarks/plugin_overhead.py        # needs root (the Debian 13 GIMP root of tests/gimp_root.py)

The plug-in prints where each run's time went (pixels out of GIMP and into the pipe, starting the
runtime, the engine, results back into GIMP); the batch script times the whole PDB call around it.
The plug-in's own part is everything but the engine. Target: at most 10 % of the total.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import gimp_root  # noqa: E402

PHOTO = Path("/usr/share/backgrounds/mate/nature/LadyBird.jpg")
WIDTH, HEIGHT = 4000, 3000
RUNS = [  # (procedure, model, on a grey copy, what it shows)
    ("plug-in-gan-enhance", "enhance-x2", False, "enhance ×2 (12 → 48 MP)"),
    ("plug-in-gan-enhance", "restore", False, "enhance ×1, restore (12 → 12 MP)"),
    ("plug-in-gan-style", "style-van-gogh", False, "style, style-van-gogh (12 → 12 MP)"),
    ("plug-in-gan-style", "colorize", True, "colorize a grey image (12 MP, grey → RGB)"),
]
BATCH = """
import json, time
from gi.repository import Gimp, Gio
results = []
for name, model, grey in {runs}:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path("/tmp/bench-photo.jpg"))
    image.scale({width}, {height})
    if grey:
        image.convert_grayscale()
    procedure = Gimp.get_pdb().lookup_procedure(name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", image.get_layers())
    config.set_property("model", model)
    start = time.perf_counter()
    status = procedure.run(config).index(0).value_nick
    results.append({{"procedure": name, "model": model, "status": status, "total": time.perf_counter() - start}})
    image.delete()
open("/tmp/bench.json", "w").write(json.dumps(results))
"""


def main() -> None:
    reason = gimp_root.unavailable_reason()
    if reason:
        sys.exit(reason)
    gimp_root.prepare_clean_install(REPO)
    gimp_root.run_in_root(gimp_root.INSTALL, timeout=900)
    root = gimp_root.ROOT
    shutil.copy(PHOTO, root / "tmp" / "bench-photo.jpg")
    batch = BATCH.format(runs=[(p, m, grey) for p, m, grey, _ in RUNS], width=WIDTH, height=HEIGHT)
    (root / "tmp" / "bench.py").write_text(batch)
    console = gimp_root.run_batch("/tmp/bench.py", timeout=1800)
    timings = [json.loads(m) for m in re.findall(r"gimp-gan timing \S+ (\{.*\})", console.stderr + console.stdout)]
    results = json.loads((root / "tmp" / "bench.json").read_text())
    print(f"{WIDTH}×{HEIGHT} RGB 8-bit layer ({WIDTH * HEIGHT / 1e6:.0f} MP), GIMP 3.0.4, runtime on the CPU\n")
    columns = ["run", "total (s)", "engine (s)", "plug-in's part (s)", "pixels out, IPC, runtime start (s)"]
    columns += ["canvas scaling (s)", "pixels back into GIMP (s)", "plug-in share"]
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for (*_, label), result, timing in zip(RUNS, results, timings, strict=True):
        assert result["status"] == "success", result
        own = result["total"] - timing["engine"]
        print(
            f"| {label} | {result['total']:.1f} | {timing['engine']:.1f} | {own:.2f} | {timing['runtime']:.2f} "
            f"| {timing.get('scale', 0):.2f} | {timing['write']:.2f} | {own / result['total']:.1%} |"
        )


if __name__ == "__main__":
    main()
