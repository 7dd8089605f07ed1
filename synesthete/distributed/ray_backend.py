"""``scan --backend ray``: the local scan's work unit (``work.analyse_job``: decode, every extractor,
fingerprints) as Ray tasks, on a Ray cluster or on a local Ray head started for the scan.

Why this shape: the driver keeps at most ``IN_FLIGHT`` tasks per worker outstanding (``ray.wait``), so a
million files never sit in the object store or in memory at once, and it yields each result as it
finishes, so ``scan`` commits it at once and a killed driver resumes like a local scan. A task whose
process dies (out of memory, a crashing decoder, a lost node) is retried ``MAX_RETRIES`` times by Ray,
then recorded as a failed file; a file that fails analysis comes back with its reason like today.
The cnn checkpoint the scan was given goes to the object store once (``ray.put``, its bytes) and every
task gets the reference: a worker loads the network from them once per process (``checkpoints.provide``),
so a node without the library's folder runs the library's own checkpoint. The classic models' folder
travels in each ``Job`` (a path: those models run where the library's folder is). Ray is an optional extra,
imported only here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from synesthete.exceptions import UserError
from synesthete.library.work import FileResult, Job, analyse_job

IN_FLIGHT = 2  # outstanding tasks per worker: enough to hide scheduling, small enough to bound memory
MAX_RETRIES = 3  # of a task whose worker process died
INSTALL = "pip install -e '.[scale]'"


def import_ray():
    """Ray, or a ``UserError`` that says what to install."""
    try:
        import ray
    except ImportError:
        raise UserError(
            f"scan --backend ray needs Ray, an optional extra: install it with {INSTALL}"
            " (in the synesthete checkout)"
        ) from None
    return ray


def run(
    jobs: list[Job],
    workers: int | None,
    *,
    address: str | None = None,
    log: Path | None = None,
    checkpoint: Path | None = None,
) -> Iterator[tuple[Job, FileResult]]:
    """Results in completion order, as ``scan._run`` gives them. Without ``address``, a local Ray head
    with ``workers`` CPUs is started here and shut down after; with it, that cluster's CPUs are used.
    ``checkpoint``: the cnn weights to run (None: the shipped ones)."""
    if not jobs:
        return
    ray = import_ray()
    env = {k: v for k, v in os.environ.items() if k.startswith("SYNESTHETE_")}
    options = {
        "runtime_env": {"env_vars": env},
        "log_to_driver": False,  # workers' decoder chatter goes to the library's log, as locally
        "include_dashboard": False,
        "logging_level": logging.WARNING,
    }
    try:
        if address is None:
            ray.init(num_cpus=max(1, workers or os.cpu_count() or 1), **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray head"
        raise UserError(f"could not start or reach {where}: {e}") from None
    try:
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if address is not None and workers:
            slots = min(slots, workers)
        yield from _drive(ray, jobs, slots, log, checkpoint)
    finally:
        ray.shutdown()


def _drive(
    ray, jobs: list[Job], slots: int, log: Path | None, checkpoint: Path | None
) -> Iterator[tuple[Job, FileResult]]:
    from synesthete.models import checkpoints

    ckpt = checkpoints.checkpoint(checkpoint or checkpoints.SHIPPED)
    weights = ray.put((ckpt.digest, ckpt.path.read_bytes()))  # once; tasks get the reference
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_analyse)
    queue = iter(jobs)
    running: dict = {}
    try:
        for job in queue:
            running[task.remote(job, weights, str(log) if log else None)] = job
            if len(running) >= IN_FLIGHT * slots:
                break
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job = running.pop(ref)
                yield job, _result(ray, ref, job)
                nxt = next(queue, None)
                if nxt is not None:
                    running[task.remote(nxt, weights, str(log) if log else None)] = nxt
    except BaseException:
        for ref in running:
            ray.cancel(ref, force=True)
        raise


def _result(ray, ref, job: Job) -> FileResult:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:  # the process died MAX_RETRIES + 1 times on this file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return FileResult(job.path, f"the analysis process died {MAX_RETRIES + 1} times: {reason}")


def _analyse(job: Job, weights: tuple[str, bytes], log: str | None) -> FileResult:
    """One Ray task: the local scan's work unit, in a worker prepared once per process."""
    from synesthete.models import checkpoints

    checkpoints.provide(*weights)  # before the warm-up, which loads the network
    checkpoints.use(job.checkpoint)
    _prepare(log)
    return analyse_job(job)


@cache
def _prepare(log: str | None) -> None:
    """Once per worker process: decoder chatter to ``log``, one BLAS thread (Ray's tasks are the
    parallelism), models loaded and numba code compiled, as a local pool's worker does."""
    from threadpoolctl import threadpool_limits

    from synesthete.library.guard import send_stderr_to
    from synesthete.library.work import warm_up

    if log is not None:
        send_stderr_to(Path(log))
    threadpool_limits(1)
    warm_up()
