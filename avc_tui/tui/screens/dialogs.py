"""Small modal dialogs: a yes/no confirmation and the key help."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP = """[b]Keys[/b]

[b]Dashboard[/b]
  enter   open the selected experiment      /   filter (esc clears)
  s       cycle the sort column/direction  c   compare table
  p       predict with the selected run    n   launch a run or a grid
  x       cancel the selected run          r   resume it (cancelled, lost, failed)
  d       delete it (asks first)           q   quit
  g       fold each group (one grid) into one row: enter unfolds it,
          x / r / d cancel, resume or delete the whole group
  space   mark the selected run                v   the marked runs side by side:
          validation curves overlaid (trials of a cell as mean, min, max) and
          the config fields in which they differ
  t       light / dark theme               ?   this help

[b]Other screens[/b]
  esc     back to the dashboard

Running experiments update by themselves about once a second."""


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question)
            with Horizontal():
                yield Button("No", id="no")
                yield Button("Yes, delete", id="yes", variant="error")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(HELP)
            with Horizontal():
                yield Button("Close", id="close")

    @on(Button.Pressed)
    def pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
