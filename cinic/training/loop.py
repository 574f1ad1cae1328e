"""Training: the loop, its setup, and what it writes into the run folder.

The loop is two plain loops a reader follows top to bottom (nanoGPT-style): `_fit`
runs the epochs (train, validate, record, checkpoint) and `train_epoch` the
batches (learning rate, augmentation, step). The learning rate is set
explicitly at every step from `config.lr_at`, so resuming needs no scheduler
state; the data lives on the device (`cinic.training.loader`); each epoch ends
with a validation pass, a metrics line, `best.pt` when validation improved and
an atomic `last.pt` (`_record_epoch`, `cinic.runs.checkpoints`). Around them:
`train_run` (the queue, stop signals and the final state), `_prepare` (data,
statistics, model) and the test-split evaluation. The run folder
(`cinic.runs.folder`) is the only output.

`setup_training` and `train_epoch` are public so the benchmark times exactly
the loop users get, varying only the `SpeedSettings` it measures.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cinic.runs import checkpoints
from cinic.runs.config import ConfigError, TrainConfig, lr_at, lr_at_epoch, validate_config
from cinic.data.dataset import CLASSES, DataSet
from cinic.model.device import autocast_for, choose_device, describe_device, uses_channels_last
from cinic.errors import CinicError
from cinic.analysis.evaluate import default_batch_size, evaluate_run
from cinic.training.loader import DeviceData
from cinic.model.lenet import ModelSpec, build_model
from cinic.runs.folder import TRAINING_LOCK, RunError, RunFolder
from cinic.runs.process import this_process

LOG_EVERY = 10  # batches between training-loss records, as in the report's curves


class StopRequested(Exception):
    """The user asked the run to stop (stop file or SIGTERM)."""


class TrainingDiverged(CinicError):
    """The loss stopped being a number: the run fails, saying what to change."""


def _check_finite(train_loss: float, valid_loss: float, epoch: int, c: TrainConfig) -> None:
    """Before any checkpoint of the epoch is written: NaN weights are never saved as a result."""
    if math.isfinite(train_loss) and math.isfinite(valid_loss):
        return
    raise TrainingDiverged(
        f"the loss became {train_loss if not math.isfinite(train_loss) else valid_loss} in epoch {epoch} "
        f"(learning rate {lr_at_epoch(c, epoch):g}): the training diverged. Lower the learning rate "
        "(--lr, --lr-drop) or turn off mixed precision (--no-amp), and check that the data is not all one colour; "
        + ("the checkpoints of the epochs before are kept" if epoch > 1 else "no checkpoint was written"))


# --- data -----------------------------------------------------------------------
def load_training_data(c: TrainConfig, log=print, phase=lambda text: None):
    """Decoded train/valid/test splits, plus Augmentor's extra training images when asked;
    `phase(text)` hears what it is doing (the Train page shows it while a launch starts)."""
    from cinic.data import dataset as data

    progress = None
    train = data.load_split(c.data, "train", progress=progress)
    valid = data.load_split(c.data, "valid", progress=progress)
    images, labels = train.images, train.labels
    if c.augment_n > 0:
        from cinic.augment.sample import sample_augmented

        phase(f"sampling {c.augment_n:,} Augmentor images")
        started = time.time()
        extra = sample_augmented(train, c.augment, c.augment_n, seed=c.seed)
        log(f"augmentation: {c.augment_n} extra training images ({c.augment_name}) "
            f"ready in {time.time() - started:.1f} s")
        images = torch.cat([images, extra.images])
        labels = torch.cat([labels, extra.labels])
    return train, valid, images, labels


# --- the loop -------------------------------------------------------------------
def train_run(run: RunFolder, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train the run described by `run`'s config.json; the run folder records everything.

    Waits for the runs root's training lock first (state "queued"), so
    launches never share a device. Returns the final status.
    """
    from filelock import FileLock

    run.write_status("queued", **this_process(), error=None, phase=None)
    lock = FileLock(str(run.path.parent / TRAINING_LOCK))
    with _stop_on_signals(run) as signals:
        if not _wait_for(lock, run):
            run.clear_stop()
            run.write_status("cancelled", **this_process(), error="cancelled while queued")
            return signals.said(run.status())
        try:
            return signals.said(_train_locked(run, resume, progress, log))
        finally:
            lock.release()


def _wait_for(lock, run: RunFolder) -> bool:
    """Take the training lock; False when the run is asked to stop first."""
    from filelock import Timeout

    try:
        while not run.stop_requested():
            try:
                lock.acquire(timeout=1)
                return True
            except Timeout:
                continue
    except StopRequested:
        pass
    return False


def train_claimed(run: RunFolder, resume: bool = False, log=print) -> dict:
    """`train_run` without the queue, for a caller that holds the runs root's lock for all its
    trainings: a sweep (cinic.sweeps.runner) claims the device once and runs its trials side by side."""
    if run.stop_requested():
        run.clear_stop()
        run.write_status("cancelled", **this_process(), error="cancelled while queued")
        return run.status()
    with _stop_on_signals(run) as signals:
        return signals.said(_train_locked(run, resume, False, log))


def _train_locked(run: RunFolder, resume: bool, progress: bool, log) -> dict:
    try:
        config = _config_of(run)
        device = choose_device(config.device)
        run.write_status("running", **this_process(), device=describe_device(device), error=None)
        log(f"device: {describe_device(device)}")
        _fit(run, config, device, resume, progress, log)
        _final_evaluation(run, config, device, log)
        if run.stop_requested():  # asked during the evaluation: a resume redoes only the evaluation
            raise StopRequested()
        run.write_status("finished", **this_process())
    except StopRequested:
        run.clear_stop()
        run.write_status("cancelled", **this_process(), error=None)
        log("stopped on request; resuming continues from the last completed epoch" if run.has_checkpoint("last")
            else "stopped on request before the first epoch ended: nothing to resume; start a new run")
    except torch.OutOfMemoryError as e:
        message = (f"the device ran out of memory ({str(e).splitlines()[0][:160]}); "
                   "lower the batch size or use the CPU (--device cpu)")
        run.write_status("failed", **this_process(), error=message)
        raise ConfigError(message) from e
    except Exception as e:
        # A CinicError already says what to do; others need their type.
        error = str(e) if isinstance(e, CinicError) else f"{type(e).__name__}: {e}"
        try:
            run.write_status("failed", **this_process(), error=error)
        except RunError:  # a full disk: the original error says more; the run reads as interrupted
            pass
        raise
    return run.status()


def _config_of(run: RunFolder) -> TrainConfig:
    """The run's config.json as a checked TrainConfig; a setting of the wrong type is damage, named."""
    try:
        config = TrainConfig.from_dict(run.config())
        validate_config(config)
    except TypeError as e:  # a missing field, or text where a number belongs
        raise RunError(f"{run.path / 'config.json'} is damaged: {str(e)[:160]}; "
                       "start a new run with the settings you want") from e
    return config


class _stop_on_signals:
    """SIGTERM and SIGINT (Ctrl-C) become a stop request, so a terminated training still ends as
    "cancelled" on disk and says so; a second signal stops at once. `said(status)` adds the signal
    received, so the CLI can exit as a signalled process does (128 + its number)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, run: RunFolder):
        self.run, self.received, self.previous = run, None, {}

    def _handle(self, number, _frame):
        first, self.received = self.received is None, number
        if not first:
            raise StopRequested()
        try:
            self.run.request_stop()
        except OSError:  # the run folder is gone: stop at once
            raise StopRequested() from None

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def said(self, status: dict) -> dict:
        if self.received is not None:
            status["signal"] = int(self.received)
        return status


# --- setup and one epoch (public: the bench times these) ---------------------------------
@dataclass(frozen=True)
class SpeedSettings:
    """How the loop runs on its device, never what it computes. `for_device` is what training uses;
    the bench measures each setting against it (bench/README.md)."""

    channels_last: bool
    cudnn_benchmark: bool
    fused_adam: bool = False   # candidate the bench measures; not used by training
    compile: bool = False      # candidate the bench measures; not used by training
    stream: bool = False       # batches copied from pinned host memory instead of a split held on the GPU

    @classmethod
    def for_device(cls, device: torch.device) -> "SpeedSettings":
        return cls(channels_last=uses_channels_last(device), cudnn_benchmark=device.type == "cuda")


@dataclass
class Training:
    """What one training holds between epochs."""

    config: TrainConfig
    device: torch.device
    speed: SpeedSettings
    spec: ModelSpec
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    train_data: DeviceData
    valid_data: DeviceData | None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_data) / self.config.batch_size)


def setup_training(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                   valid: DataSet | None = None, speed: SpeedSettings | None = None) -> Training:
    """The model, optimiser, generator and on-device data of a training; `config.mean/std` must be set."""
    speed = speed or SpeedSettings.for_device(device)
    stream = speed.stream and device.type == "cuda"
    train_data = DeviceData(images, labels, device, config.mean, config.std, speed.channels_last, stream=stream)
    valid_data = (DeviceData(valid.images, valid.labels, device, config.mean, config.std, speed.channels_last)
                  if valid is not None else None)
    torch.manual_seed(config.seed)  # the initial weights
    spec = ModelSpec.from_dict(config.model)
    model = build_model(spec).to(device)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if speed.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    optimizer = make_optimizer(model, config, fused=speed.fused_adam)
    if speed.compile:
        model = torch.compile(model)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(config.seed)
    return Training(config, device, speed, spec, model, optimizer, generator, train_data, valid_data)


def make_optimizer(model: torch.nn.Module, c: TrainConfig, fused: bool = False) -> torch.optim.Optimizer:
    if c.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum,
                               weight_decay=c.weight_decay, nesterov=c.momentum > 0)
    # AdamW: weight decay decoupled from the adaptive step, as it should be for Adam.
    return torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay,
                             **({"fused": True} if fused else {}))


def train_epoch(t: Training, epoch: int, run: RunFolder, progress: bool = False) -> tuple[float, float]:
    """One epoch over the shuffled training data; (mean loss, accuracy %) counted per image.

    The training loss goes into the run's metrics every LOG_EVERY batches, and a
    stop request is honoured at those batches too.
    """
    c, model, optimizer, device = t.config, t.model, t.optimizer, t.device
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bar = _progress_bar(t.steps_per_epoch, f"epoch {epoch}/{c.epochs}", progress)
    for step, (x, y) in enumerate(t.train_data.augmented_batches(c.batch_size, t.generator, c.flip, c.crop_pad)):
        if step % LOG_EVERY == 0 and run.stop_requested():
            raise StopRequested()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(c, epoch - 1 + step / t.steps_per_epoch)
        with autocast_for(device, c.amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=c.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * y.shape[0]
        correct += (logits.argmax(1) == y).sum()
        if step % LOG_EVERY == 0:
            value = loss.item()
            run.append_metrics(dict(kind="batch", epoch=epoch, step=(epoch - 1) * t.steps_per_epoch + step,
                                    loss=round(value, 5)))
            bar.set_postfix(loss=f"{value:.3f}")
        bar.update(1)
    bar.close()
    n = len(t.train_data)
    return loss_sum.item() / n, correct.item() * 100.0 / n


def evaluate_loss_acc(model, data: DeviceData, batch_size: int, device, amp: bool) -> tuple[float, float]:
    """Mean loss and accuracy over every image (counted per image, not per batch)."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.inference_mode(), autocast_for(device, amp):
        for x, y in data.batches(batch_size):
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    return loss_sum / len(data), correct * 100.0 / len(data)


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled, dynamic_ncols=True)


# --- the whole training: the epoch loop ---------------------------------------------------
def _fit(run: RunFolder, c: TrainConfig, device: torch.device, resume: bool, progress: bool, log) -> None:
    """The epochs: train, validate, record; what comes before is `_prepare`, each epoch's files `_record_epoch`."""
    t = _prepare(run, c, device, log)
    start_epoch, best = 1, -1.0
    if resume:
        start_epoch, best = checkpoints.restore_training(run, t.model, t.optimizer, t.generator, device)
        run.truncate_metrics_after(start_epoch - 1)
        log(f"resuming at epoch {start_epoch} (best valid {best:.2f}%)")
    eval_batch = c.eval_batch_size or default_batch_size(device)
    seconds_per_epoch = [e["seconds"] for e in run.epochs()]  # those before a resume too
    for epoch in range(start_epoch, c.epochs + 1):
        started = time.time()
        train_loss, train_acc = train_epoch(t, epoch, run, progress)
        valid_loss, valid_acc = evaluate_loss_acc(t.model, t.valid_data, eval_batch, device, c.amp)
        _check_finite(train_loss, valid_loss, epoch, c)
        seconds = time.time() - started
        record = dict(kind="epoch", epoch=epoch, train_loss=round(train_loss, 5), train_acc=round(train_acc, 3),
                      valid_loss=round(valid_loss, 5), valid_acc=round(valid_acc, 3),
                      lr=lr_at_epoch(c, epoch), seconds=round(seconds, 3),
                      images_per_s=round(len(t.train_data) / seconds, 1))
        best = _record_epoch(run, t, record, best)
        seconds_per_epoch.append(seconds)
        run.write_status("running", epoch=epoch, best_valid_acc=best, eta_s=round(seconds * (c.epochs - epoch), 1),
                         s_per_epoch=round(statistics.median(seconds_per_epoch), 3))
        log(f"epoch {epoch}/{c.epochs}: train loss {train_loss:.4f} acc {train_acc:.2f}% | "
            f"valid loss {valid_loss:.4f} acc {valid_acc:.2f}% | lr {record['lr']:.6f} | "
            f"{seconds:.2f} s, {record['images_per_s']:.0f} img/s")
        if run.stop_requested():
            raise StopRequested()


def _prepare(run: RunFolder, c: TrainConfig, device: torch.device, log) -> Training:
    """The data decoded (and augmented), its statistics measured into config.json where missing, then
    the model, optimiser and on-device data; each phase said in status.json for the Train page."""
    from cinic.data import dataset as data

    def phase(text: str) -> None:  # what a launch is doing before its first batch
        run.write_status("running", phase=text)

    phase("reading the training and validation images (decoded once, then from the cache)")
    train, valid, images, labels = load_training_data(c, log, phase)
    if c.mean is None or c.std is None:  # a config that lost one of the two is measured again
        mean, std = data.channel_stats(train.images)
        c.mean, c.std = [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]
        run.update_config(mean=c.mean, std=c.std)
    log(f"train {len(labels)} images ({len(train.labels)} original), valid {len(valid.labels)}; "
        f"mean {c.mean} std {c.std}")
    if min(c.std) <= 0:  # normalising by 0 makes every loss NaN
        raise TrainingDiverged(f"the training images do not vary in a colour channel (std {c.std}): every "
                               "image is one colour there, so nothing can be learnt; check the data folder "
                               f"{c.data}")
    phase(f"building the model and moving {len(labels):,} training images to {device.type}")
    t = setup_training(c, images, labels, device, valid=valid)
    if not t.train_data.on_device:
        log("the training images do not fit the device's memory: streaming each batch from host memory")
    run.write_status("running", params=sum(p.numel() for p in t.model.parameters()), epochs=c.epochs,
                     steps_per_epoch=t.steps_per_epoch,  # the page's progress within an epoch
                     phase="training: the first batches")
    return t


def _record_epoch(run: RunFolder, t: Training, record: dict, best: float) -> float:
    """An epoch's metrics line, then `best.pt` when validation improved, then `last.pt`; the best so far.

    Metrics line first, `last.pt` last: a kill in between leaves last.pt one
    epoch behind, and resume drops the metrics after last.pt's epoch and
    redoes them, so no epoch is ever missing or counted twice.
    """
    c, valid_acc = t.config, record["valid_acc"]
    run.append_metrics(record)
    state = checkpoints.training_state(t.model, t.optimizer, t.generator, t.spec, c.mean, c.std, CLASSES,
                                       record["epoch"], max(best, valid_acc))
    if valid_acc > best:
        best = valid_acc
        checkpoints.save(run, state, "best")
    checkpoints.save(run, state, "last")
    return best


def _final_evaluation(run: RunFolder, c: TrainConfig, device, log) -> None:
    """The best checkpoint on the test split, into eval.json."""
    result = evaluate_run(run, "best", device, batch_size=c.eval_batch_size)
    run.write_status("running", test_acc=result["accuracy"])
    log(f"test accuracy (best checkpoint, epoch {result['epoch']}): {result['accuracy']:.2f}% "
        f"on {result['n']} images")
