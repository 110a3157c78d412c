"""Exact nearest-neighbour search in memory: a published generation's vectors, one matrix product a
query."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np

from kb.passage import FILTERED, Filter, coded
from kb.topk import sampled_cut

SPLIT_AT = 8192  # passages from which a scan is shared between two threads
FEW = 8  # a filter passing fewer than one row in this many reads those rows alone
SUMMARY_FROM = 16384  # passages from which a query reads a summary of the vectors first
SUMMARY_DIMENSIONS = 192  # the summary's size: half the vectors'
SUMMARY_BLOCK = 4096  # rows summarised at a time
SLACK = 1e-5  # float32's rounding, so that the bound stays a bound


class Scan:
    """Every vector of a generation as unit rows, with the fields filters read, in one order.

    At 20,000 passages a query takes 0.6 ms, against 1.1 ms through Chroma's graph index, and is
    exact. 1.5 KB a passage, and from SUMMARY_FROM passages 0.2 KB more for a Summary that spares
    a query most of the reading (at 40,346 passages, 1.0 ms against 2.8 ms), once summarise() has
    made it: 1.4 s there, which a server spends as it warms up and a one-off search need not.
    """

    def __init__(self, ids: list[str], matrix: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        _one_blas_thread()
        self.ids = ids
        norms = np.linalg.norm(matrix, axis=1, keepdims=True) if len(ids) else 1.0
        self.matrix = (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)
        self.columns = coded({name: columns[name] for name in FILTERED})
        self.row = {chunk_id: at for at, chunk_id in enumerate(ids)}
        self.summary: Summary | None = None
        self._summarising = threading.Lock()

    def summarise(self) -> None:
        """Make the Summary queries read first, if the rows are many enough to gain by it."""
        with self._summarising:
            if self.summary is None and len(self.ids) >= SUMMARY_FROM:
                self.summary = Summary(self.matrix, SUMMARY_DIMENSIONS)

    def nearest(
        self, vector: np.ndarray, k: int, passages: Filter = Filter()
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest rows that pass the filter, best first."""
        if not self.ids or k < 1:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        passed = passages.mask(self.columns) if passages else None
        if passed is not None and passed.sum() * FEW < len(self.ids):
            # One organisation's or document's rows: read those alone (the product reads 1.5 KB
            # a row, and at 40,000 passages memory, not arithmetic, sets its pace).
            rows = np.flatnonzero(passed)
            near = self.matrix[rows] @ vector
            order = np.argsort(-near, kind="stable")[:k]
            return [(self.ids[rows[at]], float(near[at])) for at in order]
        k = min(k, len(self.ids))
        if self.summary is not None:
            return self._bounded(vector, k, passed)
        if len(self.ids) >= SPLIT_AT:  # half on another core: 0.9 ms -> 0.6 ms at 20,000 passages
            half = len(self.ids) // 2
            other_half = _helper().submit(np.matmul, self.matrix[half:], vector)
            similarity = np.concatenate([self.matrix[:half] @ vector, other_half.result()])
        else:
            similarity = self.matrix @ vector
        if passed is not None:
            similarity[~passed] = -np.inf
        best = np.argpartition(-similarity, k - 1)[:k]
        best = best[np.argsort(-similarity[best], kind="stable")]
        return [(self.ids[at], float(similarity[at])) for at in best if similarity[at] > -np.inf]

    def _bounded(
        self, vector: np.ndarray, k: int, passed: np.ndarray | None
    ) -> list[tuple[str, float]]:
        """The k nearest rows, exactly, reading in full only those the summary cannot rule out."""
        assert self.summary is not None
        bound = self.summary.bound(vector)
        if passed is not None:
            bound[~passed] = -np.inf
        # Read first the rows with the highest bounds (a few hundred, over a sampled cut); their
        # k-th best similarity rules out every row whose bound falls below it.
        cut = sampled_cut(bound, k)
        rows = np.flatnonzero(bound >= cut) if cut > -np.inf else np.flatnonzero(bound > -np.inf)
        similarity = self.matrix[rows] @ vector
        if len(rows) >= k:
            kth = np.partition(similarity, len(rows) - k)[len(rows) - k]
            if kth < cut:
                more = np.flatnonzero((bound >= kth) & (bound < cut))
                rows = np.concatenate([rows, more])
                similarity = np.concatenate([similarity, self.matrix[more] @ vector])
        else:  # fewer than k rows over the cut: every row that passes
            rows = np.flatnonzero(bound > -np.inf)
            similarity = self.matrix[rows] @ vector
        best = np.argsort(-similarity, kind="stable")[:k]
        return [(self.ids[rows[at]], float(similarity[at])) for at in best]

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> list[float]:
        """The cosine similarity of each row named to the vector (0 for one not held)."""
        rows = [self.row.get(chunk_id, -1) for chunk_id in ids]
        found = iter(
            (
                self.matrix[[row for row in rows if row >= 0]] @ np.asarray(vector, np.float32)
            ).tolist()
        )
        return [next(found) if row >= 0 else 0.0 for row in rows]

    def vector(self, chunk_id: str) -> np.ndarray | None:
        at = self.row.get(chunk_id)
        return None if at is None else self.matrix[at].copy()


@lru_cache(maxsize=1)
def _helper() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-scan")


def _one_blas_thread() -> None:
    """The scan is one matrix-vector product, bound by memory, not arithmetic. OpenBLAS would run it
    on every core and leave its threads spinning afterwards, taking the cores the model and SQLite
    need next: one thread took a query's p50 from 4.8 to 4.1 ms at 548 passages, 8.8 to 6.2 ms at
    20,000."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class Summary:
    """The vectors seen along their leading directions (the principal axes of the rows, found once
    when the generation's vectors are read). A query's similarity to a row is at most the
    similarity of the two summaries plus the product of what each leaves out (Cauchy-Schwarz), so a
    scan of the summary rules out nearly every row, and the few whose bound reaches the k-th best
    similarity are read in full: exact, not approximate. At 40,730 passages, 192 of MiniLM's 384
    dimensions keep 98 % of the rows' energy and leave about 260 rows to read in full (1,500 with
    128 dimensions, 16,000 with 64).

    The summary is held as 8-bit integers, one scale a row, and the bound reckoned in ONNX
    Runtime's integer kernels: an eighth of the vectors' memory to read where float32 took a
    quarter. For a row x held as x' and a vector q as q', x.q = x'.q' + (x - x').q + x'.(q - q'),
    so |x.q - x'.q'| <= |x - x'| |q| + |x'| |q - q'|, and the bound stays a bound. The query is held
    in two parts of 7 bits, the second what the first rounds off: one product of both costs what
    one does, and leaves its rounding some 60 times smaller. Integers stay within 63 (the query's)
    and 127 (the rows'), so no sum of two products leaves 16 bits on the CPUs whose kernels add
    them there (AVX2's vpmaddubsw saturates above 32,767). At 40,346 passages, right after the
    model has run (as in a search, its reading having emptied the caches), a bound takes 0.6 ms, not
    1.0, and a query's nearest 50 in all 1.0-1.25 ms, not 1.6."""

    def __init__(self, matrix: np.ndarray, dimensions: int) -> None:
        _, directions = np.linalg.eigh(matrix.T @ matrix)  # ascending: the leading ones last
        leading = directions[:, ::-1][:, : min(dimensions, matrix.shape[1])]
        self.basis = np.ascontiguousarray(leading, dtype=np.float32)
        count = len(matrix)
        integers = np.zeros((self.basis.shape[1], count), dtype=np.int8)  # a column a row
        scale, errors = np.zeros(count, np.float32), np.zeros((2, count), np.float32)
        self.largest_norm = 0.0
        # A block of rows at a time: the whole at once made 200 MB of passing arrays at 40,000
        # rows, which the allocator kept.
        for start in range(0, count, SUMMARY_BLOCK):
            block = matrix[start : start + SUMMARY_BLOCK]
            rows = block @ self.basis
            # The part left out measured as itself, not as a difference of two norms, whose
            # rounding could shrink a small remainder to nothing and the bound below the similarity.
            left_out = np.linalg.norm(block - rows @ self.basis.T, axis=1)
            largest = np.maximum(np.abs(rows).max(axis=1), np.finfo(np.float32).tiny)
            step = largest / ROW_LEVELS
            held = np.round(rows / step[:, None])
            integers[:, start : start + len(block)] = held.T
            held *= step[:, None]
            errors[0, start : start + len(block)] = np.linalg.norm(rows - held, axis=1)
            errors[1, start : start + len(block)] = left_out
            scale[start : start + len(block)] = step
            self.largest_norm = max(self.largest_norm, float(np.linalg.norm(held, axis=1).max()))
        self._bounds, self._arrays = _bounds_session(integers, scale, errors)

    def bound(self, vector: np.ndarray) -> np.ndarray:
        """An upper bound on each row's similarity to the vector."""
        vector = np.asarray(vector, dtype=np.float32)
        seen = (self.basis.T @ vector).astype(np.float64)
        left = float(np.linalg.norm(vector - self.basis @ seen.astype(np.float32)))
        parts, steps, rest = [], [], seen
        for _ in range(2):
            step = max(float(np.abs(rest).max()), float(np.finfo(np.float32).tiny)) / VECTOR_LEVELS
            integers = np.round(rest / step)
            rest = rest - integers * step
            parts.append(integers + VECTOR_ZERO)
            steps.append(step)
        (bound,) = self._bounds.run(
            None,
            {
                "parts": np.array(parts, dtype=np.uint8),
                "steps": np.array([steps], dtype=np.float32),
                "weights": np.array([[np.linalg.norm(seen), left]], dtype=np.float32),
                "constant": np.array(
                    [self.largest_norm * float(np.linalg.norm(rest)) + SLACK], dtype=np.float32
                ),
            },
        )
        return bound[0]


BOUND_THREADS = 2  # the rows are read from memory after the model's run: two cores read faster
ROW_LEVELS, VECTOR_LEVELS, VECTOR_ZERO = 127, 63, 64  # the summary's integers: -127..127, 1..127


def _bounds_session(rows: np.ndarray, scale: np.ndarray, errors: np.ndarray) -> tuple[Any, list]:
    """An ONNX Runtime session reckoning Summary.bound from the query's parts (2 x dimensions,
    uint8), their steps (1 x 2), the weights of the rows' two errors (1 x 2: the query's length and
    what the summary leaves of it) and a constant: steps . (parts - VECTOR_ZERO) x rows, times each
    row's scale, plus weights . errors, plus the constant. The rows (dimensions x rows, int8),
    scales and errors (2 x rows: rounding, left out) are its constants, packed for its kernels
    once, and handed over as arrays, not written into the graph (written in, three copies of them
    passed through the allocator: 56 MB at 40,000 rows, not 18). Returns the session and the
    arrays, which must live as long as it does."""
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    dimensions, count = rows.shape
    given = {"rows": rows, "scale": scale, "errors": errors}
    graph = helper.make_graph(
        [
            helper.make_node("MatMulInteger", ["parts", "rows", "zero"], ["products"]),
            helper.make_node("Cast", ["products"], ["as_floats"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["steps", "as_floats"], ["summed"]),
            helper.make_node("Mul", ["summed", "scale"], ["similar"]),
            helper.make_node("MatMul", ["weights", "errors"], ["margin"]),
            helper.make_node("Add", ["similar", "margin"], ["widened"]),
            helper.make_node("Add", ["widened", "constant"], ["bound"]),
        ],
        "summary_bound",
        [
            helper.make_tensor_value_info("parts", TensorProto.UINT8, [2, dimensions]),
            helper.make_tensor_value_info("steps", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("weights", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("constant", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("bound", TensorProto.FLOAT, [1, count])],
        initializer=[
            numpy_helper.from_array(np.array(VECTOR_ZERO, dtype=np.uint8), "zero"),
            *(_given_later(name, array) for name, array in given.items()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = onnxruntime.SessionOptions()
    # None left spinning after a product to take the cores the model needs next.
    options.intra_op_num_threads, options.inter_op_num_threads = BOUND_THREADS, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    values = [onnxruntime.OrtValue.ortvalue_from_numpy(array) for array in given.values()]
    options.add_external_initializers(list(given), values)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session, values


def _given_later(name: str, array: np.ndarray) -> Any:
    """A constant of the graph whose values are handed to the session as an array (its data
    "external", as ONNX says)."""
    from onnx import TensorProto, helper

    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    tensor.dims.extend(array.shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=name)
    return tensor
