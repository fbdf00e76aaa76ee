"""Steady Darcy flow on an irregular triangular mesh (UPS's `darcy2d_mesh` task).

    -div(a grad u) = f  in (0, 1)^2,   u = 0 on the boundary,   f = `forcing` (default 1),

as PDEBench's Darcy task but on an unstructured mesh: linear (P1) finite elements on a Delaunay
triangulation of random interior points plus evenly spaced points on the four edges. One mesh
per file (seeded), shared by all samples.

Mesh: the interior points are stratified random samples -- one uniform point in each cell of an
m x m grid, kept `MARGIN` of a cell away from the cell's sides -- so the points are irregular but
never closer than 2 MARGIN / m, which keeps the Delaunay triangles well shaped. Each edge carries
m + 1 evenly spaced points (corners included): P = m^2 + 4m nodes, m the largest integer with
P <= `n_points`.

Coefficient: a smooth random field g (band-limited Fourier modes |k| <= `modes` on the periodic
extension of [0, 2]^2, unit variance; see `initial.band_limited_modes`) is thresholded AT THE
NODES: a = 1 where g > `threshold`, 0.1 elsewhere, like PDEBench's {0.1, 1} coefficients. The
stored nodal values define a(x) as their P1 interpolant, which the stiffness matrix integrates
exactly (mean of the three nodal values on each triangle), so the stored `coefficient` is exactly
the coefficient the solution belongs to; triangles crossing an interface get intermediate means.

Assembly is vectorised over triangles with scipy.sparse; the Dirichlet nodes are eliminated and
the interior system solved directly, one sparse LU per sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from scipy.spatial import Delaunay
from tqdm import tqdm

from ups.data.simulate.initial import band_limited_modes
from ups.data.simulate.layouts import write_mesh_zarr
from ups.data.simulate.options import SimulatorSpec, int_at_least, positive_real, real

MARGIN = 0.25  # of a cell: how far a stratified interior point stays from its cell's sides
LOW, HIGH = 0.1, 1.0  # the two coefficient values
FILE_NAME = "Darcy_2D_mesh.zarr"


# ---- mesh --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mesh:
    """A triangulation of the unit square."""

    nodes: np.ndarray  # (P, 2) coordinates
    cells: np.ndarray  # (E, 3) node indices, counter-clockwise
    boundary: np.ndarray  # (P,) bool: node on the boundary of the square


def edge_points(m: int) -> np.ndarray:
    """m + 1 evenly spaced points on each edge of the unit square, corners once: (4m, 2)."""
    s = np.arange(m) / m  # [0, 1): each edge from one corner up to the next
    return np.concatenate([np.stack([s, 0 * s], 1), np.stack([1 + 0 * s, s], 1),
                           np.stack([1 - s, 1 + 0 * s], 1), np.stack([0 * s, 1 - s], 1)])


def signed_areas(nodes: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Signed areas of triangles (E, 3) -> (E,): positive when counter-clockwise."""
    p0, p1, p2 = (nodes[cells[:, i]] for i in range(3))
    d1, d2 = p1 - p0, p2 - p0
    return 0.5 * (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])


def triangulate_square(interior: np.ndarray, m: int) -> Mesh:
    """Delaunay mesh of interior points (K, 2) inside (0, 1)^2 plus m + 1 points per edge.

    Raises if Qhull dropped a point or made a flat triangle (points too close to the boundary).
    """
    boundary_pts = edge_points(m)
    nodes = np.concatenate([boundary_pts, interior])  # (P, 2), boundary nodes first
    cells = Delaunay(nodes).simplices.astype(np.int64)  # (E, 3)
    area = signed_areas(nodes, cells)
    cells = np.where((area < 0)[:, None], cells[:, [0, 2, 1]], cells)  # -> counter-clockwise
    if np.unique(cells).size != len(nodes) or np.abs(area).min() < 1e-3 / (m * m):
        raise ValueError(f"triangulation of {len(nodes)} points dropped a point or made a flat "
                         "triangle")
    boundary = np.zeros(len(nodes), bool)
    boundary[: len(boundary_pts)] = True
    return Mesh(nodes, cells, boundary)


def stratified_points(rng: np.random.Generator, m: int, margin: float = MARGIN) -> np.ndarray:
    """One uniform random point per cell of an m x m grid, `margin` cells from its sides:
    (m^2, 2)."""
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    corner = np.stack([i.ravel(), j.ravel()], 1)  # (m^2, 2) lower-left cell corners
    return (corner + rng.uniform(margin, 1.0 - margin, size=corner.shape)) / m


def mesh_size(n_points: int) -> int:
    """The largest m with m^2 + 4m <= n_points."""
    return math.isqrt(n_points + 4) - 2


def random_mesh(rng: np.random.Generator, n_points: int) -> Mesh:
    """A random mesh of at most n_points nodes (m^2 + 4m of them; see the module docstring)."""
    m = mesh_size(n_points)
    return triangulate_square(stratified_points(rng, m), m)


# ---- finite elements ---------------------------------------------------------------------------


def p1_gradients(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the three hat functions on every triangle (E, 3, 2), and the areas (E,).

    The hat function of vertex i has gradient perp(p_{i+2} - p_{i+1}) / (2 A).
    """
    p = mesh.nodes[mesh.cells]  # (E, 3, 2)
    opposite = np.roll(p, -2, axis=1) - np.roll(p, -1, axis=1)  # p_{i+2} - p_{i+1}: (E, 3, 2)
    area = signed_areas(mesh.nodes, mesh.cells)
    grads = np.stack([-opposite[..., 1], opposite[..., 0]], -1) / (2.0 * area[:, None, None])
    return grads, area


def stiffness(mesh: Mesh, a_nodes: np.ndarray) -> sp.csr_matrix:
    """Stiffness matrix of -div(a grad) for a = the P1 interpolant of a_nodes (P,): (P, P).

    grad(phi_i) . grad(phi_j) is constant on a triangle, so the integral of a times it is
    exactly the mean nodal a times the area times the product.
    """
    grads, area = p1_gradients(mesh)
    a_cell = a_nodes[mesh.cells].mean(axis=1)  # (E,)
    local = np.einsum("eid,ejd->eij", grads, grads) * (a_cell * area)[:, None, None]  # (E, 3, 3)
    rows = np.repeat(mesh.cells, 3, axis=1)  # (E, 9): i for every (i, j)
    cols = np.tile(mesh.cells, (1, 3))  # (E, 9): j for every (i, j)
    p = len(mesh.nodes)
    return sp.coo_matrix((local.ravel(), (rows.ravel(), cols.ravel())), shape=(p, p)).tocsr()


def mass(mesh: Mesh) -> sp.csr_matrix:
    """P1 mass matrix (P, P): exact integrals of phi_i phi_j (A/6 on the diagonal, A/12 off)."""
    area = signed_areas(mesh.nodes, mesh.cells)
    local = (np.ones((3, 3)) + np.eye(3))[None] * (area / 12.0)[:, None, None]  # (E, 3, 3)
    rows, cols = np.repeat(mesh.cells, 3, axis=1), np.tile(mesh.cells, (1, 3))
    p = len(mesh.nodes)
    return sp.coo_matrix((local.ravel(), (rows.ravel(), cols.ravel())), shape=(p, p)).tocsr()


def solve_darcy(mesh: Mesh, a_nodes: np.ndarray, f_nodes: np.ndarray) -> np.ndarray:
    """P1 solution (P,) of -div(a grad u) = f, u = 0 on the boundary, for the P1 interpolants
    of a_nodes (P,) and f_nodes (P,) (the load M f integrates the interpolated f exactly)."""
    inner = ~mesh.boundary
    k = stiffness(mesh, a_nodes)[inner][:, inner].tocsc()
    load = (mass(mesh) @ f_nodes)[inner]
    u = np.zeros(len(mesh.nodes))
    u[inner] = splu(k).solve(load)
    return u


# ---- random coefficients -----------------------------------------------------------------------


def random_field(rng: np.random.Generator, n: int, points: np.ndarray, max_mode: int,
                 length: float = 2.0) -> np.ndarray:
    """Unit-variance band-limited random fields at scattered points (P, 2): (n, P).

    The same construction as `initial.gaussian_random_field_2d`: modes 0 < |k| <= max_mode of
    the periodic extension of [0, length]^2 (length 2 > 1: no periodicity imposed on the unit
    square), cos and sin coefficients N(0, 1/M).
    """
    modes = band_limited_modes(max_mode)  # (M, 2)
    coef = rng.normal(0.0, 1.0 / np.sqrt(len(modes)), size=(n, 2, len(modes)))
    phase = 2.0 * np.pi / length * (modes @ points.T)  # (M, P)
    return coef[:, 0] @ np.cos(phase) + coef[:, 1] @ np.sin(phase)


def threshold_coefficient(g: np.ndarray, threshold: float) -> np.ndarray:
    """PDEBench-style two-valued coefficient: HIGH where g > threshold, LOW elsewhere."""
    return np.where(g > threshold, HIGH, LOW)


# ---- files -------------------------------------------------------------------------------------


def simulate_darcy2d_mesh(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write `Darcy_2D_mesh.zarr`: one seeded mesh, n_traj coefficients and solutions."""
    rng = np.random.default_rng(seed)
    mesh = random_mesh(rng, int(opts["n_points"]))
    g = random_field(rng, int(opts["n_traj"]), mesh.nodes, int(opts["modes"]))  # (N, P)
    a = threshold_coefficient(g, float(opts["threshold"]))
    f = np.full(len(mesh.nodes), float(opts["forcing"]))
    u = np.stack([solve_darcy(mesh, a_i, f)
                  for a_i in tqdm(a, desc="darcy mesh", disable=None, leave=False)])  # (N, P)
    path = Path(out_dir) / FILE_NAME
    description = ("-div(a grad u) = forcing on [0,1]^2, u = 0 on the boundary; P1 FEM on a "
                   "Delaunay mesh; coefficient in {0.1, 1} at the nodes (P1 interpolant)")
    return [write_mesh_zarr(path, mesh.nodes, mesh.cells, mesh.boundary, a, u,
                            task="darcy2d_mesh", bounds=[[0.0, 1.0], [0.0, 1.0]],
                            params={"forcing": float(opts["forcing"])}, description=description)]


SPECS = {
    "darcy2d_mesh": SimulatorSpec(
        simulate_darcy2d_mesh,
        {"n_traj": int_at_least(1), "n_points": int_at_least(12)},  # m >= 2: an interior node
        {"forcing": (1.0, positive_real), "modes": (6, int_at_least(1)),
         "threshold": (0.0, real)},
    ),
}
