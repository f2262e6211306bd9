"""Predict: a trained experiment and a video → top-k classes as bars and the attention over the
sampled frames' times. The model runs in a worker thread; errors become inline messages."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from avc_tui import control
from avc_tui.prediction_view import prediction_renderables
from core.errors import AvcError


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
                yield Input(id="video", placeholder="path to a video")
            with Horizontal(classes="form-row"):
                yield Button("Predict", id="run", variant="primary")
            yield Static("", id="predict-error")
            yield Static("", id="answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#video" if self.experiment_id else "#experiment", Input).focus()

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
            prediction = self.predictors[key].predict(Path(video).expanduser())
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
        self.query_one("#predict-error", Static).update(message)
        self.notify(message, severity="error")

    def answered(self, prediction) -> None:
        self.query_one("#answer", Static).update(Group(*prediction_renderables(prediction)))
