"""Rich rendering of a :class:`core.predict.Prediction`: probability bars and an attention strip."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from avc_tui.console import console
from core.predict import Prediction

BLOCKS = " ▁▂▃▄▅▆▇█"


def bar(fraction: float, width: int = 30) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighths of a cell)."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")).ljust(width)


def attention_strip(weights: list[float]) -> str:
    """One block character per frame, its height proportional to the frame's weight."""
    top = max(weights) if weights else 0.0
    if top <= 0:
        return ""
    return "".join(BLOCKS[max(1, round(w / top * (len(BLOCKS) - 1)))] for w in weights)


def spatial_strip(prediction: Prediction) -> Table:
    """Each frame's spatial attention as a small h × w grid of shades (darkest = most)."""
    h, w = prediction.map_size
    table = Table(title="attention over the conv map, per frame", title_justify="left", box=None,
                  show_header=True, pad_edge=False)
    shown = list(zip(prediction.times, prediction.spatial_attention))[:12]
    for t, _ in shown:
        table.add_column(f"{t:.0f}s")
    rows = []
    for y in range(h):
        cells = []
        for _, weights in shown:
            top = max(weights) or 1.0
            cells.append("".join(" ░▒▓█"[min(4, int(weights[y * w + x] / top * 4.99))] * 2
                                 for x in range(w)))
        rows.append(cells)
    for cells in rows:
        table.add_row(*cells)
    return table


def prediction_renderables(prediction: Prediction) -> list:
    """The top-k table and, when the head has attention, the per-frame weights, as Rich
    renderables (printed by the CLI, shown by the TUI's predict screen)."""
    table = Table(title=f"{prediction.video} → [bold]{prediction.label}[/]", title_justify="left")
    table.add_column("class")
    table.add_column("probability", justify="right")
    table.add_column("")
    for name, prob in prediction.top:
        table.add_row(name, f"{100 * prob:.1f}%", f"[green]{bar(prob)}[/]")
    note = (f"{prediction.frames_sampled} frames sampled, {prediction.frames_used} used "
            f"(sequence length {prediction.sequence_length})")
    if prediction.spatial_attention is not None and prediction.map_size:
        return [table, Text(note), spatial_strip(prediction)]
    if prediction.attention is None:
        return [table, Text(f"{note}; this head has no temporal attention")]
    strip = Text.assemble(f"attention over time ({note}):\n  ",
                          (attention_strip(prediction.attention), "cyan"))
    frames = Table(box=None, show_header=True, pad_edge=False)
    frames.add_column("t (s)", justify="right")
    frames.add_column("weight", justify="right")
    frames.add_column("")
    top = max(prediction.attention)
    for t, w in zip(prediction.times, prediction.attention):
        frames.add_row(f"{t:.1f}", f"{w:.3f}", f"[cyan]{bar(w / top if top else 0, 20)}[/]")
    return [table, strip, frames]


def render_prediction(prediction: Prediction) -> None:
    """Print :func:`prediction_renderables` to the console."""
    for renderable in prediction_renderables(prediction):
        console.print(renderable, highlight=False)
