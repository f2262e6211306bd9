"""`avc predict` (top-k classes and attention of trained models) and `avc attention` (the
attention figure as a PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from avc_tui import control
from avc_tui.cli.options import Db, Device, Model
from avc_tui.console import console, err_console, print_error
from avc_tui.registry import Registry
from core.errors import AvcError

if TYPE_CHECKING:
    from core.predict import Prediction, Predictor


def predict(
    model: Model,
    videos: Annotated[list[Path], typer.Argument(help="One or more video files; for a model "
                                                 "of YouTube-8M features, frame-level TFRecord "
                                                 "files.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show.")] = 5,
    device: Device = "auto",
    db: Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify videos with a trained model: top-k classes and per-frame attention.

    A model trained on YouTube-8M features (--layout youtube8m) takes frame-level TFRecord files
    instead and classifies every video in them. With an experiment id the answers are also
    recorded in the registry. A video that cannot be decoded, or a file that cannot be read, is
    reported and skipped, as is each damaged record; the exit status is then 1.
    """
    from avc_tui.prediction_view import render_prediction
    from core.predict import Predictor

    predictor = Predictor(control.model_checkpoint(model, db), device=device)
    # An experiment id: the answers are recorded with it.
    registry = Registry(db, create=False) if control.is_experiment_id(model) else None
    answers, failed = [], 0
    for video in videos:
        predictions, problems, error = _predict_one(predictor, video, top_k)
        if error is not None:  # report it, go on with the other files
            failed += 1
            print_error(error)
            answers.append({"video": str(video), "error": error.message})
            continue
        for problem in problems:  # damaged records: skipped, each reported
            failed += 1
            err_console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
            answers.append({"video": str(video), "error": problem})
        if predictor.precomputed and not predictions and not problems:
            err_console.print(f"[yellow]warning:[/] {video} holds no videos", highlight=False,
                              soft_wrap=True)
        for prediction in predictions:
            answer = prediction.to_dict()
            answers.append(answer)
            if registry is not None:
                registry.add_prediction(int(model), answer)
            if not as_json:
                render_prediction(prediction)
    if registry is not None:
        registry.close()
    if as_json:
        typer.echo(json.dumps(answers, indent=2))
    if failed:
        raise typer.Exit(1)


def _predict_one(predictor: Predictor, path: Path, top_k: int
                 ) -> tuple[list[Prediction], list[str], AvcError | None]:
    """``(predictions, damaged-record problems, error)`` for one argument of `avc predict`: a
    video file, or a TFRecord file of videos for a model of precomputed features."""
    from core.data.tfrecord import TFRecordError
    from core.errors import VideoDecodeError

    try:
        if predictor.precomputed:
            predictions, problems = predictor.predict_records(path, top_k=top_k)
            return predictions, problems, None
        return [predictor.predict(path, top_k=top_k)], [], None
    except (VideoDecodeError, TFRecordError) as error:
        return [], [], error


def attention(
    model: Annotated[str, typer.Argument(help="A registry experiment id, a run folder or a "
                                         "checkpoint of a soft-attention or gla model.")],
    video: Annotated[Path, typer.Argument(help="A video file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write.")] = Path(
        "attention.png"),
    frames: Annotated[int, typer.Option(help="How many frames to draw.")] = 6,
    device: Device = "auto",
    db: Db = None,
) -> None:
    """Draw where the model looked: each frame above its attention overlay, as a PNG."""
    from avc_tui.attention_image import save_attention_figure
    from core.predict import Predictor

    prediction = Predictor(control.model_checkpoint(model, db),
                           device=device).predict(video, keep_frames=True)
    path = save_attention_figure(prediction, out, frames=frames)
    drawn = min(frames, prediction.frames_used)
    console.print(f"{video} → {prediction.label}; the attention of {drawn} frames drawn to {path}",
                  highlight=False)
