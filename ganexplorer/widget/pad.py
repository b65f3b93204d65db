"""A 2-D pad (ipycanvas): drag to move along two directions at once, x across and y up."""

from __future__ import annotations

from collections.abc import Callable

from ipycanvas import Canvas, hold_canvas


class Pad:
    """``on_move(u, v)`` with u, v in [-1, 1] (v = +1 at the top) while the mouse is pressed and moving."""

    def __init__(self, on_move: Callable[[float, float], None], size: int = 160):
        self.size, self.on_move = size, on_move
        self.canvas = Canvas(width=size, height=size, layout={"width": f"{size}px", "height": f"{size}px"})
        self.canvas.add_class("gx-pad")
        self._dragging = False
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_up(lambda x, y: setattr(self, "_dragging", False))
        self.canvas.on_mouse_out(lambda x, y: setattr(self, "_dragging", False))
        self.draw(0.0, 0.0)

    def draw(self, u: float, v: float) -> None:
        s, c = self.size, self.canvas
        with hold_canvas():
            c.fill_style = "#f4f4f4"
            c.fill_rect(0, 0, s, s)
            c.stroke_style = "#bbb"
            c.stroke_line(s / 2, 0, s / 2, s)
            c.stroke_line(0, s / 2, s, s / 2)
            c.fill_style = "#1f77b4"
            c.fill_circle((u + 1) / 2 * s, (1 - v) / 2 * s, 6)

    def _to_uv(self, x: float, y: float) -> tuple[float, float]:
        clamp = lambda t: max(-1.0, min(1.0, t))  # noqa: E731
        return clamp(2 * x / self.size - 1), clamp(1 - 2 * y / self.size)

    def _down(self, x: float, y: float) -> None:
        self._dragging = True
        self._move(x, y)

    def _move(self, x: float, y: float) -> None:
        if self._dragging:
            u, v = self._to_uv(x, y)
            self.draw(u, v)
            self.on_move(u, v)
