import subprocess
import sys


def test_lightning_open_clip_and_torchvision_import_after_clipmem():
    code = (
        "import clipmem, torchvision, lightning, open_clip, torchmetrics\n"
        "from torchvision.transforms import v2\n"
        "print(torchvision.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_shim_is_idempotent():
    from clipmem._torchvision_compat import ensure_torchvision_importable

    assert ensure_torchvision_importable() is False  # torchvision is imported already: nothing to do
