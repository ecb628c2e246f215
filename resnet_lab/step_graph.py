"""The whole training step in one CUDA graph (``trainer.step_graph=true``).

On the H200 of benchmarks/results/h200-2026-12-04.md an eager ResNet-110 step took 35-50 ms
whatever it computed (the GPU's work changed nothing), and what cut the host's work paid: the
step launches thousands of kernels. torch.compile's CUDA graphs left the gradient zeroing and
accumulation between its pieces eager. Here the trainer's own eager step (forward, backward, SGD
update) is recorded once and replayed: one launch a step, the same kernels, the same arithmetic.

The SGD update bakes the learning rate into the graph, so there is one graph per distinct lr
(four in the papers' schedule); they share one memory pool, which is safe because no graph
keeps anything in it from one replay to the next but its two outputs, read at once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import torch

Outputs = tuple[torch.Tensor, torch.Tensor]  # the loss and the wrong-prediction count
Step = Callable[[torch.Tensor, torch.Tensor], Outputs]
# eager steps before the first capture: cuDNN autotuning and cuBLAS's lazy set-up must not be
# recorded (PyTorch's CUDA-graph notes warm up on a side stream; three, as their example)
WARMUP_STEPS = 3


class StepGraph:
    """Calls ``step(x, y)`` (returning the loss and wrong count) as a replayed CUDA graph.

    ``step`` must read the learning rate from the optimizer, keep its gradients and momentum
    buffers in tensors that exist before the capture (``make_optimizer`` allocates both), and
    never sync with the host. Its outputs are overwritten by the next call: read them first.
    Drop one (``Trainer.release_steps``) before the next is made on its device: a destroyed
    graph frees the cuBLAS workspace of the stream it was captured on, and torch hands out its
    pooled streams again, so a later graph captured on that stream could replay into freed memory.
    """

    def __init__(self, step: Step, device: torch.device, warmup_steps: int = WARMUP_STEPS) -> None:
        self.step = step
        self.device = device
        # one side stream for the warm-up and every capture (graphs sharing a pool are captured
        # on one stream), on this device: torch's shared capture stream is on whichever GPU was
        # current when it was first used, and a capture there records nothing of this one
        self.stream = torch.cuda.Stream(device)
        self.warmup_left = warmup_steps
        self.graphs: dict[float, tuple[torch.cuda.CUDAGraph, Outputs]] = {}
        self.inputs: tuple[torch.Tensor, torch.Tensor] | None = None  # what each replay reads
        self.pool: tuple[int, int] | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> Outputs:
        """One training step at ``lr`` (the optimizer's lr already set to it)."""
        with torch.cuda.device(self.device):
            if self.warmup_left:
                self.warmup_left -= 1
                return self._eager_on_side_stream(x, y)
            if self.inputs is None:  # empty_like keeps channels_last
                self.inputs = (torch.empty_like(x), torch.empty_like(y))
            self.inputs[0].copy_(x)
            self.inputs[1].copy_(y)
            if lr not in self.graphs:
                self.graphs[lr] = self._capture()
            graph, outputs = self.graphs[lr]
            graph.replay()
            return outputs

    def _eager_on_side_stream(self, x: torch.Tensor, y: torch.Tensor) -> Outputs:
        main = torch.cuda.current_stream()
        self.stream.wait_stream(main)
        with torch.cuda.stream(self.stream):
            outputs = self.step(x, y)
        main.wait_stream(self.stream)
        for tensor in outputs:  # used on the main stream: not to be reused before it is done
            tensor.record_stream(main)
        return outputs

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, Outputs]:
        assert self.inputs is not None
        graph = torch.cuda.CUDAGraph()
        # No garbage collection during the capture: a collected cycle holding an earlier
        # trainer's graph (a sweep's previous job, a test's) would destroy that graph mid-capture,
        # which CUDA forbids and which voids this one. Torch no longer collects before a capture
        # by default (torch.compiler.config.force_cudagraph_gc): collect here instead.
        collecting = gc.isenabled()
        gc.collect()
        gc.disable()
        try:
            # thread_local: another thread's CUDA call (a DataLoader's pinned memory, in the
            # benchmark) must not void the capture, as torch.compile's graphs do it
            with torch.cuda.graph(
                graph, pool=self.pool, stream=self.stream, capture_error_mode="thread_local"
            ):
                outputs = self.step(*self.inputs)
        finally:
            if collecting:
                gc.enable()
        self.pool = graph.pool()
        return graph, outputs
