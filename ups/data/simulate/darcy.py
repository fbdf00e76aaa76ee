"""2D steady Darcy flow -div(a grad u) = beta on [0, 1]^2, u = 0 on the boundary.

PDEBench's `2D_DarcyFlow` task at small size. The coefficient follows PDEBench's generator: a sum
of `n_bumps` Gaussian bumps exp(-|x - c_j|^2 / w_j) with centres uniform in the square and
w_j = 0.5 U(0, 1), thresholded to a = 1 where the sum exceeds its mean and 0.1 elsewhere. PDEBench
thresholds at the mean over the whole batch; here each sample uses its own spatial mean, so a
sample does not depend on the batch it was drawn with (and every sample has both values).

Cell-centred finite volumes on an nx x nx grid: the flux through an interior face is
a_f (u_P - u_N) / h with a_f the harmonic mean of the two cells' coefficients (the exact
conductance of two half-cells in series, which keeps the flux continuous across a jump of a);
the Dirichlet wall is a ghost cell holding -u_P, i.e. a flux 2 a_P u_P / h through the wall. The
matrix is assembled vectorised in sparse COO form and solved by a sparse direct (LU) solve.

Arrays are [x, y]: axis 0 is x, as PDEBench's Darcy files store them. The solution is linear in
beta, so each beta file draws its own coefficients (shared ones would make the files scaled
copies of each other).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ups.data.simulate.advection import cell_centres
from ups.data.simulate.layouts import write_darcy_file
from ups.data.simulate.options import SimulatorSpec, int_at_least, real_list

HIGH, LOW = 1.0, 0.1  # the two coefficient values


# ---- coefficient -------------------------------------------------------------------------------


def bump_sum(rng: np.random.Generator, n: int, x: np.ndarray, n_bumps: int) -> np.ndarray:
    """PDEBench's smooth random field sum_j exp(-|p - c_j|^2 / w_j) on the grid x (X,) x x:
    (n, X, Y), axis 1 = x. Centres and widths are drawn per sample, independent of the grid."""
    centres = rng.uniform(0.0, 1.0, size=(n, n_bumps, 2))  # (n, J, {x, y})
    widths = 0.5 * rng.uniform(0.0, 1.0, size=(n, n_bumps))  # (n, J)
    dx2 = (x[None, None, :] - centres[..., 0, None]) ** 2  # (n, J, X)
    dy2 = (x[None, None, :] - centres[..., 1, None]) ** 2  # (n, J, Y)
    r2 = dx2[..., :, None] + dy2[..., None, :]  # (n, J, X, Y)
    return np.exp(-r2 / widths[..., None, None]).sum(axis=1)  # (n, X, Y)


def threshold(field: np.ndarray) -> np.ndarray:
    """a = 1 where a sample's field exceeds its own spatial mean, else 0.1: (n, X, Y)."""
    mean = field.mean(axis=(-2, -1), keepdims=True)
    return np.where(field > mean, HIGH, LOW)


# ---- finite volumes ----------------------------------------------------------------------------


def harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Face conductance of two half-cells in series (elementwise)."""
    return 2.0 * a * b / (a + b)


def darcy_matrix(a: np.ndarray, h: float) -> sp.csc_matrix:
    """The FV matrix of -div(a grad .) with u = 0 on the walls, for cell coefficients a (X, Y).

    Row (i, j) (flat index i Y + j) holds sum_faces T_f (u_P - u_N) / h^2 with T_f the harmonic
    face coefficient inside and 2 a_P at a wall (ghost cell -u_P at distance h/2 + h/2).
    """
    nx, ny = a.shape
    index = np.arange(nx * ny).reshape(nx, ny)
    tx = harmonic(a[:-1, :], a[1:, :]) / h**2  # faces between (i, j) and (i+1, j): (X-1, Y)
    ty = harmonic(a[:, :-1], a[:, 1:]) / h**2  # faces between (i, j) and (i, j+1): (X, Y-1)
    diag = np.zeros((nx, ny))
    diag[:-1, :] += tx
    diag[1:, :] += tx
    diag[:, :-1] += ty
    diag[:, 1:] += ty
    wall = 2.0 * a / h**2
    diag[0, :] += wall[0, :]
    diag[-1, :] += wall[-1, :]
    diag[:, 0] += wall[:, 0]
    diag[:, -1] += wall[:, -1]
    pairs = [(index[:-1, :], index[1:, :], tx), (index[:, :-1], index[:, 1:], ty)]
    rows = [index.ravel()] + [p.ravel() for p, q, _ in pairs] + [q.ravel() for p, q, _ in pairs]
    cols = [index.ravel()] + [q.ravel() for p, q, _ in pairs] + [p.ravel() for p, q, _ in pairs]
    vals = [diag.ravel()] + [-t.ravel() for *_, t in pairs] * 2
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(nx * ny, nx * ny))
    return matrix.tocsc()


def solve_darcy(a: np.ndarray, f: np.ndarray | float, h: float) -> np.ndarray:
    """Cell-centred solution u (X, Y) of -div(a grad u) = f with u = 0 on the walls."""
    rhs = np.broadcast_to(np.asarray(f, dtype=np.float64), a.shape).ravel()
    return splu(darcy_matrix(a, h)).solve(rhs).reshape(a.shape)


def wall_outflow(u: np.ndarray, a: np.ndarray) -> float:
    """Total flux -a du/dn out through the four walls, per the scheme's wall faces.

    Each wall face carries a_P (u_P - 0) / (h/2) times its length h, i.e. 2 a_P u_P, whatever h.
    """
    flux = 2.0 * a * u  # (X, Y); only the wall rows and columns are summed
    return float(flux[0, :].sum() + flux[-1, :].sum() + flux[:, 0].sum() + flux[:, -1].sum())


# ---- files -------------------------------------------------------------------------------------


def simulate_darcy2d(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write one `2D_DarcyFlow_beta{beta}_Train.hdf5` per beta, each with its own coefficients."""
    nx, n = int(opts["nx"]), int(opts["n_traj"])
    x = cell_centres(nx)
    rng = np.random.default_rng(seed)
    paths = []
    for beta in opts["beta"]:
        a = threshold(bump_sum(rng, n, x, int(opts["n_bumps"])))  # (N, X, Y)
        u = np.stack([solve_darcy(a[i], beta, 1.0 / nx) for i in range(n)])  # (N, X, Y)
        path = Path(out_dir) / f"2D_DarcyFlow_beta{beta}_Train.hdf5"
        paths.append(write_darcy_file(path, u, a, x, x, beta))
    return paths


SPECS = {
    "darcy2d": SimulatorSpec(
        simulate_darcy2d,
        # A 0.1/1 pattern needs a few cells per side to be more than grid noise: nx >= 8.
        {"n_traj": int_at_least(1), "nx": int_at_least(8),
         "beta": real_list(0.0, "constant forcing; one file per value", strict=True)},
        {"n_bumps": (5, int_at_least(1))},
    ),
}
