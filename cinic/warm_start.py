"""The training process kept warm (the other end of cinic/runs/warm.py): it imports what a training
needs and takes one step, says it is ready, waits for one launch on its standard input and becomes that
training, `python -m cinic train ...` run in this process. It stands beside `__main__.py`: like it, an
entry point over the whole package.

    python -m cinic.warm_start     # what cinic.runs.warm.keep_warm starts; not for people
"""

from __future__ import annotations

import json
import os
import sys

from cinic.runs.warm import READY


def serve() -> int:
    """Import what a training needs, say so, wait for one job and become it; exit if the app goes."""
    from cinic import cli

    _prime()
    os.write(1, READY)
    line = sys.stdin.buffer.readline()
    if not line:  # the app exited (or stopped keeping warm) before launching anything
        return 0
    job = json.loads(line)
    _become(job["log"], job["cwd"], job["env"])
    return cli.main(job["argv"])


def _prime() -> None:
    """What a training's first step imports or sets up on first use, done before any launch: torch,
    the loop, and one throwaway step of a LeNet with AdamW under autocast (the optimiser's first
    construction alone imports torch._dynamo: 1.5 s quiet, 7 s on a loaded 2-core machine). The
    training seeds its own weights and generator afterwards: nothing here reaches its results."""
    import torch
    import torch.nn.functional as F

    from cinic.model.lenet import PRESETS, build_model
    from cinic.training import loop
    from cinic.model.device import autocast_for

    device = torch.device("cpu")
    model = build_model(PRESETS["base"]).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters())
    with autocast_for(device, True):
        loss = F.cross_entropy(model(torch.zeros(2, 3, 32, 32)).float(), torch.zeros(2, dtype=torch.long))
    loss.backward()
    optimizer.step()


def _become(log_path: str, cwd: str, env: dict) -> None:
    """Output into the run's log, no input, the launch's folder and environment: what launch_training
    gives a fresh process."""
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log), os.close(null)
    os.chdir(cwd)


if __name__ == "__main__":
    sys.exit(serve())
