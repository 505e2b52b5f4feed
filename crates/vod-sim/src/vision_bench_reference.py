"""The reference for `vod bench vision`: plain Python onnxruntime running the same two models
on the same input tensors the vision stage feeds them, one frame after the other.

argv: threads rounds frames then, per model, onnx path, input name, shape (comma-separated),
tensor folder prefix; the tensor of frame i is <prefix>_<i>.bin (little-endian float32).
Prints one line: the milliseconds of each frame measured.
"""
import sys
import time

import numpy as np
import onnxruntime as ort

threads, rounds, frames = (int(a) for a in sys.argv[1:4])
models = []
for onnx, name, shape, prefix in zip(*[iter(sys.argv[4:])] * 4):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    dims = [int(d) for d in shape.split(",")]
    tensors = [np.fromfile(f"{prefix}_{i}.bin", dtype="<f4").reshape(dims) for i in range(frames)]
    models.append((session, name, tensors))

for i in range(frames):  # warm-up, as the stage is warmed up
    for session, name, tensors in models:
        session.run(None, {name: tensors[i]})

times = []
for _ in range(rounds):
    for i in range(frames):
        t0 = time.perf_counter()
        for session, name, tensors in models:
            session.run(None, {name: tensors[i]})
        times.append((time.perf_counter() - t0) * 1000)
print(" ".join(f"{t:.3f}" for t in times))
