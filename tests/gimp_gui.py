"""Runs inside GIMP 3's GUI (under Xvfb, python-fu-eval): opens each dialog for a screenshot, and undoes.

Each procedure is called interactively, so GIMP builds its dialog from the declared arguments; a helper
waits for the window, photographs it (Generate's with its preview drawn) and presses Escape, and the call
returns CANCEL. Then Enhance
runs from its dialog (Return presses OK) and is undone with Ctrl+Z in the image window, as a user
would, and so is a colorizer's run on a grey image (its conversion to RGB included). tests/test_gimp.py
asserts on OUT.
"""

import json
import re
import subprocess
import time
import traceback
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

IN, OUT = Path("/tmp/gimp-gan-in"), Path("/tmp/gimp-gan-gui")
OUT.mkdir(parents=True, exist_ok=True)
DIALOGS = {
    "plug-in-gan-generate": "Generate",
    "plug-in-gan-enhance": "Enhance (Upscale / Restore)",
    "plug-in-gan-style": "Style Transfer / Colorize",
}
# Under load, windows come and go while xdotool walks the tree (an X BadWindow error ends that search),
# so the helper searches again rather than once with --sync; a dialog it cannot close would hang GIMP.
SHOT = """
find() { xdotool search --onlyvisible --name "$1" 2>/dev/null | head -1; }
for try in $(seq 90); do id=$(find "$1"); [ -n "$id" ] && break; sleep 1; done
[ -n "$id" ] || exit 1
sleep 4
id=$(find "$1")
[ -z "$2" ] || import -window "$id" "$2"
for try in 1 2 3 4 5; do
  timeout 30 xdotool windowfocus --sync "$id" key "$3" 2>/dev/null && exit 0
  sleep 2
  id=$(find "$1"); [ -n "$id" ] || exit 0
done
exit 1
"""
report = {}


def pixels(drawable):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, "R'G'B' u8", Gegl.AbyssPolicy.CLAMP))


def xdotool(*arguments):
    return subprocess.run(["xdotool", *arguments], capture_output=True, text=True, timeout=60).stdout.strip()


def in_dialog(name, title, image, layer, key, shot="", **settings):
    """Runs a procedure interactively; a helper photographs its dialog (if `shot`), then presses `key`."""
    helper = subprocess.Popen(["sh", "-c", SHOT, "shot", f"^{re.escape(title)}$", str(shot), key])
    procedure = Gimp.get_pdb().lookup_procedure(name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    for setting, value in settings.items():
        config.set_property(setting, value)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    status = procedure.run(config).index(0)
    helper.wait(timeout=120)
    return status


try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(IN / "photo-small.png")))
    layer = image.get_layers()[0]
    Gimp.Display.new(image)
    Gimp.displays_flush()
    # The dialogs show bundled models (the README's screenshots); the Generate dialog's preview is caught too.
    settings = {
        "plug-in-gan-generate": {"model": "fashion-style", "seed": 7},
        "plug-in-gan-style": {"model": "style-van-gogh"},
    }
    for name, title in DIALOGS.items():
        shot = OUT / f"dialog-{name.removeprefix('plug-in-gan-')}.png"
        status = in_dialog(name, title, image, layer, "Escape", shot, **settings.get(name, {}))
        report[name] = {"status": status.value_nick, "screenshot": shot.exists()}

    before = pixels(layer)
    status = in_dialog("plug-in-gan-enhance", DIALOGS["plug-in-gan-enhance"], image, layer, "Return")  # OK
    Gimp.displays_flush()
    enhanced_size = [image.get_width(), image.get_height()]
    window = xdotool("search", "--onlyvisible", "--name", r"\(RGB color").splitlines()[0]  # the image window
    xdotool("windowfocus", "--sync", window, "key", "ctrl+z")
    for _ in range(50):  # GIMP handles the key in its own time
        if image.get_width() == 128:
            break
        time.sleep(0.2)
    report["undo"] = {
        "status": status.value_nick,
        "enhanced_size": enhanced_size,
        "undone_size": [image.get_width(), image.get_height()],
        "pixels_restored": pixels(image.get_layers()[0]) == before,
    }

    # A colorizer on a grey image converts it to RGB; one Ctrl+Z takes back both.
    grey = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(IN / "grey-photo.png")))
    Gimp.Display.new(grey)
    Gimp.displays_flush()
    before = pixels(grey.get_layers()[0])
    procedure = Gimp.get_pdb().lookup_procedure("plug-in-gan-style")
    config = procedure.create_config()
    for key, value in (("run-mode", Gimp.RunMode.NONINTERACTIVE), ("image", grey), ("model", "test-colorize"),
                       ("output", "in-place")):  # fmt: skip
        config.set_property(key, value)
    config.set_core_object_array("drawables", grey.get_layers())
    status = procedure.run(config).index(0)
    Gimp.displays_flush()
    colorized_type = grey.get_base_type().value_nick
    window = xdotool("search", "--sync", "--onlyvisible", "--name", r" 128x96 ").splitlines()[0]  # its window
    xdotool("windowfocus", "--sync", window, "key", "ctrl+z")
    for _ in range(50):
        if grey.get_base_type() == Gimp.ImageBaseType.GRAY:
            break
        time.sleep(0.2)
    report["colorize_undo"] = {
        "status": status.value_nick,
        "colorized_type": colorized_type,
        "undone_type": grey.get_base_type().value_nick,
        "pixels_restored": pixels(grey.get_layers()[0]) == before,
    }
except Exception:
    report["crash"] = traceback.format_exc()
(OUT / "report.json").write_text(json.dumps(report, indent=1))
