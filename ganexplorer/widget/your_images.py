"""Your own images, as one part of the Explorer: an uploaded or drawn image is projected into the latent space in
the background, then joins the samples so every slider moves it; its original is shown beside. A mixin over the
Explorer's generator, latents and lock."""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np

from ..frames import png_bytes
from . import values
from .values import Refused


class YourImagesPart:
    """Projected real images among the samples."""

    def _with_real(self, z):
        """The random samples, then the projected real images: every slider acts on both."""
        import torch

        return torch.cat([z, *[r["latent"] for r in self._real]]) if self._real else z

    def add_image(self, image: Any = None, steps: Any = 200, restarts: Any = 4, block: bool = False,
                  data: bytes | None = None, name: str = "image") -> threading.Thread:
        """Project a real image (a path, PNG/JPEG bytes, a PIL image or a uint8 array) into the latent space in
        the background; it then joins the samples and every slider moves it. Its original is shown beside."""
        from ..projection import fit_summary, prepare_images, project

        image = data if image is None else image
        if image is None:
            raise Refused("give an image: a file path, PNG/JPEG bytes, a PIL image or an array")
        steps = values.whole(steps, "projection steps", 1, 100000)
        restarts = values.whole(restarts, "restarts", 1, 64)
        try:
            target = prepare_images(image, self.generator)  # refuses unreadable files before any work
        except (OSError, ValueError, TypeError) as exc:
            raise Refused(f"cannot read {name!r} as an image: {exc}") from None
        if self._project_thread is not None and self._project_thread.is_alive():
            raise Refused("an image is being projected: wait for it to finish")
        self.projecting = {"state": "running", "step": 0, "total": steps, "name": name}
        self._say(f"projecting {name} into the latent space ({steps} steps, {restarts} restarts)…")

        def progress(step: int, error: float) -> None:
            self.projecting = {**self.projecting, "step": step, "error": round(error, 2)}

        def work() -> None:
            try:
                result = project(self.generator, target, steps=steps, restarts=restarts, callback=progress,
                                 cancel=self._project_cancel, progress=False)
                with self._lock:
                    self._real.append({"latent": result.latents[:1].to(self.generator.device),
                                       "original": result.targets[0], "render": result.renders[0],
                                       "error": result.error[0], "name": name})
                    self.z = self._with_real(self.z[: self.samples])
                self._publish_real()
                self._render()
                self.send({"type": "thumbs-stale"})
                self.projecting = {"state": "done", "step": result.steps, "total": steps, "name": name,
                                   "error": result.error[0]}
                n = self.samples + len(self._real)
                self._say(f"{fit_summary(result)}: it is sample {n} of {n} in the image now, and every slider "
                          "moves it", "ok")
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.projecting = {"state": "failed", "name": name, "message": f"{type(exc).__name__}: {exc}"}
                self._say(f"projecting {name} failed: {type(exc).__name__}: {exc}", "error")

        self._project_cancel = threading.Event()
        self._project_thread = threading.Thread(target=work, daemon=True, name="ganexplorer-project")
        self._project_thread.start()
        if block:
            self._project_thread.join()
        return self._project_thread

    def remove_image(self, index: int) -> None:
        """Take real image ``index`` (0 = the first added) out of the samples."""
        index = values.whole(index, "image", 0, max(0, len(self._real) - 1))
        if not self._real:
            raise Refused("no real image to remove")
        with self._lock:
            removed = self._real.pop(index)
            self.z = self._with_real(self.z[: self.samples])
        self._publish_real()
        self._render()
        self.send({"type": "thumbs-stale"})
        self._say(f"removed {removed['name']} from the samples")

    def _publish_real(self) -> None:
        self.real_images = [{"name": r["name"], "error": r["error"], "sample": self.samples + i,
                             "original": "data:image/png;base64," + base64.b64encode(png_bytes(
                                 np.repeat(r["original"], 3, -1) if r["original"].shape[-1] == 1 else r["original"]
                             )).decode()} for i, r in enumerate(self._real)]
