"""``hydra/launcher=slurm``: Hydra's submitit launcher, which says in one line that a job ended
without its result.

A job Slurm cancelled (``scancel``, a node lost, out of its requeues) leaves no result for the
launching process: submitit raised UncompletedJobError there, and Hydra printed its trace after
the run's own message. The run itself is safe (it saved a checkpoint at the SIGTERM, or resumes
from its last); the sweep's other jobs go on in Slurm.

Hydra instantiates launchers from the ``hydra_plugins`` package only, and imports every module
there at each start, of any Hydra app: this one imports nothing of the lab's until it launches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:  # the module, not its class: Hydra takes every launcher class a plugin module holds
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # the launchers extra is not installed: Hydra refuses hydra/launcher=slurm
    submitit_launcher = None


def ended_without_a_result(message: str, sweep: str) -> str:
    """submitit's message (which job, its state, its error stream) as one line: the job, and
    its run's last word, which says how it continues (else how a sweep's run continues)."""
    from resnet_lab.stopping import how_to_continue

    lines = message.splitlines()
    said = [line for line in lines if line.startswith("resnet-lab: ")]
    last = said[-1].removeprefix("resnet-lab: ") if said else how_to_continue(sweep)
    return (
        f"resnet-lab: error: a Slurm job ended without its result (cancelled, its node lost, "
        f"or out of requeues: {' '.join(lines[:2])}); its run: {last}; the sweep's other jobs "
        "go on in Slurm (squeue)"
    )


if submitit_launcher is not None:

    class ResnetLabSlurmLauncher(submitit_launcher.SlurmLauncher):
        """submitit's Slurm launcher, a job that ended without its result told in one line."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
            from hydra.errors import CompactHydraException
            from submitit.core.utils import UncompletedJobError

            from resnet_lab.pasteable import pasteable_override

            try:
                return super().launch(job_overrides, initial_job_idx)
            except UncompletedJobError as e:
                folder = str(self.config.hydra.sweep.dir)  # type: ignore[union-attr]
                sweep = pasteable_override("hydra.sweep.dir", folder)
                raise CompactHydraException(ended_without_a_result(str(e), sweep)) from None
