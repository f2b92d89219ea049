"""Does the window stay responsive while it works, and how fast does Cancel stop a job?

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_responsiveness.py

Realistic load: the 96 photo-like 24 MP JPEGs and the ViT-B-32 (random weights) checkpoint of
``embed_throughput.py``, a fresh cache, the app's own settings (batch 8, cores-1 torch threads).
A 10 ms QTimer on the GUI thread records the longest gap between its ticks per stage (target while
embedding: <= 100 ms). Cancel is pressed during embedding, then (another run) during the layout; the time
until the job reports it stopped is the cancel latency (target <= 1 s).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from embed_throughput import photo_like_jpegs, random_weights_model  # noqa: E402


def main() -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.gui.main_window import MainWindow, application

    model = f"local-dir:{random_weights_model('ViT-B-32')}"
    photos = photo_like_jpegs(96)
    folder = photos[0].parent
    app = application()

    def run(cancel_in: str | None) -> tuple[dict[str, float], float | None]:
        scratch = Path(tempfile.mkdtemp())
        window = MainWindow(model=model, cache_dir=scratch, interactive_errors=False, remember_layout=False,
                            library_dir=scratch / "libraries")
        window.show()
        gaps: dict[str, float] = {}
        state = {"stage": "start", "last": time.perf_counter(), "cancel_at": None, "stopped": None, "done": False}

        def tick() -> None:
            now = time.perf_counter()
            gaps[state["stage"]] = max(gaps.get(state["stage"], 0.0), now - state["last"])
            state["last"] = now

        def progress(event) -> None:
            state["stage"] = event.stage
            wanted = cancel_in == event.stage and (event.stage != "embed" or event.done >= 16)
            if wanted and state["cancel_at"] is None:
                state["cancel_at"] = time.perf_counter()
                window.cancel()

        timer = QTimer(interval=10)
        timer.timeout.connect(tick)
        timer.start()
        window.add_paths([str(folder)])
        window.analyze()
        window.worker.progress.connect(progress)
        window.worker.cancelled.connect(lambda: state.update(stopped=time.perf_counter()))
        window.worker.finished.connect(lambda: state.update(done=True))
        while not state["done"]:
            app.processEvents()
            time.sleep(0.002)
        timer.stop()
        window.close()
        QApplication.processEvents()
        latency = (state["stopped"] - state["cancel_at"]) if state["stopped"] and state["cancel_at"] else None
        return {k: v * 1000 for k, v in gaps.items()}, latency

    gaps, _ = run(None)
    print("Longest stall of the GUI thread per stage (10 ms timer), full analysis of 96 x 24 MP JPEGs, ViT-B-32:")
    for stage, ms in gaps.items():
        target = "   target <= 100 ms: " + ("met" if ms <= 100 else "MISSED") if stage == "embed" else ""
        print(f"  {stage:11s} {ms:7.1f} ms{target}")
    for stage in ("embed", "layout"):
        _, latency = run(stage)
        if latency is None:
            print(f"Cancel during {stage}: the job ended before it could be cancelled")
        else:
            print(f"Cancel during {stage} stopped the job in {latency * 1000:.0f} ms   target <= 1000 ms: "
                  f"{'met' if latency <= 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
