"""Predict: a trained experiment and a video → top-k classes as bars, the attention over the
sampled frames' times and the most-attended frames as small pictures. The video is typed, picked
in a tree of the working folder (video files only) or taken from the recently predicted ones. The
model runs in a worker thread; errors become inline messages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.console import Group
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    DirectoryTree,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from avc_tui import control
from avc_tui.prediction_view import prediction_renderables
from avc_tui.tui.widgets.thumbnails import thumbnail_strip
from core.errors import AvcError

# What the tree offers: the containers avc decodes (YouTube-8M's records go to `avc predict`).
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v",
                            ".flv", ".wmv", ".3gp", ".ogv"})
RECENT = 10


class PredictScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, experiment_id: int | None = None) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.predictors: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            with Horizontal(classes="form-row"):
                yield Label("experiment id")
                yield Input(str(self.experiment_id or ""), id="experiment",
                            placeholder="a finished experiment's id", type="integer")
            with Horizontal(classes="form-row"):
                yield Label("video file")
                yield Input(id="video", placeholder="path to a video, or pick one below")
            with Horizontal(classes="form-row"):
                yield Label("recent")
                yield Select([], id="recent", prompt="videos predicted before")
            with Horizontal(classes="form-row"):
                yield Label("browse")
                yield VideoTree(Path.cwd(), id="tree")
            with Horizontal(classes="form-row"):
                yield Button("Predict", id="run", variant="primary")
            yield Static("", id="predict-error")
            yield Static("", id="answer")
            yield Static("", id="frames")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#video" if self.experiment_id else "#experiment", Input).focus()
        self.query_one("#frames").display = False
        self.load_recent()

    @work(thread=True, exit_on_error=False)
    def load_recent(self) -> None:
        # Video files that are still there: not a YouTube-8M record (file#id), nor a path
        # typed relative to another folder.
        videos = [v for v in self.app.registry.recent_videos(4 * RECENT)
                  if "#" not in v and Path(v).is_absolute() and Path(v).is_file()][:RECENT]
        self.app.call_from_thread(self._fill_recent, videos)

    def _fill_recent(self, videos: list[str]) -> None:
        self.query_one("#recent", Select).set_options((_shown(v), v) for v in videos)

    @on(Select.Changed, "#recent")
    def recent_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#video", Input).value = event.value

    @on(DirectoryTree.FileSelected, "#tree")
    def file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#video", Input).value = str(event.path)

    @on(Input.Submitted)
    @on(Button.Pressed, "#run")
    def run(self) -> None:
        experiment = self.query_one("#experiment", Input).value.strip()
        video = self.query_one("#video", Input).value.strip()
        error = self.query_one("#predict-error", Static)
        if not experiment.isdigit():
            error.update("enter the id of a trained experiment")
            return
        if not video:
            error.update("enter the path of a video file")
            return
        error.update("")
        self.query_one("#answer", Static).update("predicting…")
        self.predict(int(experiment), video)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def predict(self, experiment_id: int, video: str) -> None:
        from core.predict import Predictor

        try:
            checkpoint = control.experiment_checkpoint(self.app.registry, experiment_id)
            key = str(checkpoint)
            if key not in self.predictors:
                self.predictors[key] = Predictor(checkpoint)
            prediction = self.predictors[key].predict(Path(video).expanduser().resolve(),
                                                      keep_frames=True)
            self.app.registry.add_prediction(experiment_id, prediction.to_dict())
        except AvcError as failure:
            self.app.call_from_thread(self.failed, failure.message)
            return
        except Exception as failure:  # noqa: BLE001 - shown, never a crash
            self.app.call_from_thread(self.failed, f"{type(failure).__name__}: {failure}")
            return
        self.app.call_from_thread(self.answered, prediction)

    def failed(self, message: str) -> None:
        self.query_one("#answer", Static).update("")
        self.query_one("#frames").display = False
        self.query_one("#predict-error", Static).update(message)
        self.notify(message, severity="error")

    def answered(self, prediction) -> None:
        self.query_one("#answer", Static).update(Group(*prediction_renderables(prediction)))
        frames = prediction.extras.get("frames")
        weights = prediction.attention
        shown = frames is not None and weights is not None and len(frames) > 0
        self.query_one("#frames").display = shown
        if shown:
            self.query_one("#frames", Static).update(
                thumbnail_strip(frames, prediction.times, weights))
        self.load_recent()


class VideoTree(DirectoryTree):
    """A folder tree that shows folders (not hidden ones) and video files only."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES)]


def _shown(video: str) -> str:
    """A recent video as the list shows it: the file name and its folder's."""
    path = Path(video)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name
