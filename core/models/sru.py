"""The Simple Recurrent Unit (Lei et al. 2018) that GLA's original code runs, from the optional
``sru`` package (2.6.0; ``pip install -e '.[sru]'``).

GLA's ``Recurrent_model`` is ``SRU(input, 1024, num_layers=3, dropout=0.5, bidirectional=False,
rescale=True, highway_bias=0)`` over (T, B, D) steps; :class:`SRUSteps` is that module with
batch-first input, answering like ``nn.LSTM``/``nn.GRU`` (steps, state) so a GLA stream can use any
of the three. The package compiles its C++ CPU kernel with the system's compiler on first import
(a few seconds, cached afterwards); on the CPU, training runs its pure-PyTorch recurrence, whose
"are you sure?" warning is silenced here. Missing or unloadable, it is a :class:`ConfigError`
saying how to install it.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import torch
from torch import nn

from core.errors import ConfigError

INSTALL_HINT = "pip install -e '.[sru]' (the sru 2.6.0 package; it needs a C++ compiler)"


def sru_package() -> ModuleType:
    """The ``sru`` package, or a ConfigError saying why it cannot be used."""
    try:
        with warnings.catch_warnings():
            if not torch.cuda.is_available():  # its CUDA kernels fail to build; nothing needs them
                warnings.filterwarnings("ignore", message="Just-in-time loading and compiling")
            import sru
    except ImportError as error:
        raise ConfigError("GLA's rnn=sru needs the optional sru package, which is not installed",
                          hint=INSTALL_HINT) from error
    except (OSError, RuntimeError) as error:  # its C++ kernel did not compile or load
        raise ConfigError(f"the sru package is installed but did not load: {error}",
                          hint="it compiles a C++ kernel on first import: install a C++ compiler "
                               "(g++) and ninja") from error
    return sru


class SRUSteps(nn.Module):
    """GLA's SRU on batch-first input: (B, T, D) → ((B, T, hidden), last cell states)."""

    def __init__(self, in_dim: int, hidden: int, *, layers: int, dropout: float) -> None:
        super().__init__()
        self.sru = sru_package().SRU(in_dim, hidden, num_layers=layers, dropout=dropout,
                                     bidirectional=False, rescale=True, highway_bias=0.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running SRU on CPU with grad_enabled")
            steps, state = self.sru(x.transpose(0, 1).contiguous())
        return steps.transpose(0, 1), state
