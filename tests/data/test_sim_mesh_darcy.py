"""Physics and layout tests of the P1 finite-element Darcy solver on random meshes (darcy2d_mesh).

The zarr stores are read back with zarr itself (the UPS reader of this layout is separate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from helpers import assert_refused_before_work, assert_seed_decides_bytes

from ups.data.simulate import simulate
from ups.data.simulate.mesh_darcy import (
    Mesh,
    mass,
    mesh_size,
    p1_gradients,
    signed_areas,
    solve_darcy,
    stiffness,
    triangulate_square,
)

TASK = "darcy2d_mesh"
SMALL = {"n_traj": 6, "n_points": 300, "modes": 4}
PI = np.pi
# Degree-2 quadrature on a triangle: barycentric points, weight A/3 each.
BARY = np.array([[2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]])


def jittered_mesh(m: int, seed: int, jitter: float = 0.2) -> Mesh:
    """Delaunay mesh of the (m-1)^2 interior grid points moved by up to `jitter` h: h = 1/m."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(1, m), np.arange(1, m), indexing="ij")
    pts = np.stack([i.ravel(), j.ravel()], 1) + rng.uniform(-jitter, jitter, ((m - 1) ** 2, 2))
    return triangulate_square(pts / m, m)


# Manufactured solution u = sin(pi x) sin(pi y) with a smooth, non-constant coefficient.
def exact(p: np.ndarray) -> np.ndarray:
    return np.sin(PI * p[..., 0]) * np.sin(PI * p[..., 1])


def exact_grad(p: np.ndarray) -> np.ndarray:
    x, y = p[..., 0], p[..., 1]
    return np.stack([PI * np.cos(PI * x) * np.sin(PI * y), PI * np.sin(PI * x) * np.cos(PI * y)],
                    -1)


def coefficient(p: np.ndarray) -> np.ndarray:
    return 1.0 + 0.5 * np.sin(2 * PI * p[..., 0]) * np.cos(PI * p[..., 1])


def source(p: np.ndarray) -> np.ndarray:
    """f = -div(a grad u) = -(a Lap u + grad a . grad u) for the manufactured u and a."""
    x, y = p[..., 0], p[..., 1]
    grad_a = np.stack([PI * np.cos(2 * PI * x) * np.cos(PI * y),
                       -0.5 * PI * np.sin(2 * PI * x) * np.sin(PI * y)], -1)
    return 2 * PI**2 * coefficient(p) * exact(p) - (grad_a * exact_grad(p)).sum(-1)


def errors(mesh: Mesh, u: np.ndarray) -> tuple[float, float]:
    """L2 and H1-seminorm errors of the P1 function u (P,) against the exact solution."""
    grads, area = p1_gradients(mesh)
    q = np.einsum("qk,ekd->eqd", BARY, mesh.nodes[mesh.cells])  # (E, 3, 2) quadrature points
    uq = np.einsum("qk,ek->eq", BARY, u[mesh.cells])  # u_h there: (E, 3)
    grad_h = np.einsum("ek,ekd->ed", u[mesh.cells], grads)  # constant per triangle: (E, 2)
    w = area[:, None] / 3.0
    l2 = np.sqrt(np.sum(w * (uq - exact(q)) ** 2))
    h1 = np.sqrt(np.sum(w * ((grad_h[:, None] - exact_grad(q)) ** 2).sum(-1)))
    return float(l2), float(h1)


def test_manufactured_solution_converges_at_second_order_in_l2_first_in_h1():
    sizes = [8, 16, 32, 64]  # h halves
    errs = []
    for m in sizes:
        mesh = jittered_mesh(m, seed=m)
        u = solve_darcy(mesh, coefficient(mesh.nodes), source(mesh.nodes))
        errs.append(errors(mesh, u))
    l2, h1 = np.array(errs).T
    order_l2, order_h1 = np.log2(l2[:-1] / l2[1:]), np.log2(h1[:-1] / h1[1:])
    assert np.all(order_l2 > 1.8) and np.all(order_l2 < 2.2), order_l2
    assert np.all(order_h1 > 0.9) and np.all(order_h1 < 1.1), order_h1
    assert l2[-1] < 1e-3 and h1[-1] < 0.06


def test_constant_coefficient_poisson_matches_series_solution():
    # -Lap u = 1 on the unit square: u = sum over odd j, k of 16 / (pi^4 j k (j^2 + k^2))
    # sin(j pi x) sin(k pi y); u(1/2, 1/2) = 0.0736713...
    odd = np.arange(1, 400, 2)[:, None]
    j, k = odd, odd.T
    centre = np.sum(16 / (PI**4 * j * k * (j**2 + k**2)) * np.sin(j * PI / 2) * np.sin(k * PI / 2))
    mesh = jittered_mesh(32, seed=0, jitter=0.0)  # the centre is a node
    u = solve_darcy(mesh, np.ones(len(mesh.nodes)), np.ones(len(mesh.nodes)))
    at_centre = u[np.argmin(np.abs(mesh.nodes - 0.5).sum(1))]
    assert abs(centre - 0.0736713) < 1e-6
    assert abs(at_centre - centre) < 2e-3 * centre  # O(h^2): 1.3e-3 at h = 1/32


# ---- the written store -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    (path,) = simulate(TASK, SMALL, tmp_path_factory.mktemp("darcy_mesh"), seed=5)
    return path


def test_store_layout(store):
    assert store.name == "Darcy_2D_mesh.zarr"
    g = zarr.open_group(store, mode="r")
    m = mesh_size(SMALL["n_points"])
    p, n = m * m + 4 * m, SMALL["n_traj"]
    assert g.attrs["ups_layout"] == "mesh" and g.attrs["task"] == TASK
    assert g.attrs["params"] == {"forcing": 1.0}
    assert g.attrs["bounds"] == [[0.0, 1.0], [0.0, 1.0]]
    shapes = {k: (g[k].shape, str(g[k].dtype)) for k in g.array_keys()}
    assert shapes == {"nodes": ((p, 2), "float32"), "cells": ((2 * p - 4 * m - 2, 3), "int32"),
                      "boundary": ((p,), "bool"), "coefficient": ((n, p), "float32"),
                      "solution": ((n, p), "float32")}  # Euler: E = 2P - B - 2 triangles
    assert g["solution"].chunks == (1, p)


def test_mesh_is_counter_clockwise_and_covers_the_square(store):
    g = zarr.open_group(store, mode="r")
    nodes, cells, boundary = (np.asarray(g[k][...]) for k in ("nodes", "cells", "boundary"))
    area = signed_areas(nodes.astype(float), cells)
    assert area.min() > 0
    assert abs(area.sum() - 1.0) < 1e-6
    on_edge = (np.isclose(nodes, 0, atol=1e-7) | np.isclose(nodes, 1, atol=1e-7)).any(1)
    np.testing.assert_array_equal(boundary, on_edge)
    assert np.unique(cells).size == len(nodes)
    # Irregular: no two interior nodes share a coordinate, unlike a lattice.
    inner = nodes[~boundary]
    assert len(np.unique(inner[:, 0])) == len(np.unique(inner[:, 1])) == len(inner)


def test_solution_is_positive_and_solves_the_stored_problem(store):
    g = zarr.open_group(store, mode="r")
    nodes, cells, boundary = (np.asarray(g[k][...]) for k in ("nodes", "cells", "boundary"))
    a, u = np.asarray(g["coefficient"][...]), np.asarray(g["solution"][...])
    assert set(np.unique(a)) == {np.float32(0.1), np.float32(1.0)}
    assert np.all(u[:, boundary] == 0) and u[:, ~boundary].min() > 0  # f > 0 => u > 0
    mesh = Mesh(nodes.astype(float), cells, boundary)
    load = mass(mesh) @ np.ones(len(nodes))
    for a_i, u_i in zip(a, u, strict=True):
        residual = (stiffness(mesh, a_i.astype(float)) @ u_i - load)[~boundary]
        # float32 storage of u and the nodes leaves ~1e-5 of the load; a wrong a would not.
        assert np.abs(residual).max() < 1e-4 * np.abs(load).max()
        # ... and not a solution for a different coefficient (the check can fail).
        other = (stiffness(mesh, np.ones(len(nodes))) @ u_i - load)[~boundary]
        assert np.abs(other).max() > 0.1 * np.abs(load).max()


def test_solution_is_linear_in_the_forcing(tmp_path, store):
    (path,) = simulate(TASK, {**SMALL, "forcing": 2.5}, tmp_path, seed=5)
    u1 = zarr.open_group(store, mode="r")["solution"][...]
    u2 = zarr.open_group(path, mode="r")["solution"][...]
    np.testing.assert_allclose(u2, 2.5 * u1, rtol=1e-5, atol=1e-8)
    assert zarr.open_group(path, mode="r").attrs["params"] == {"forcing": 2.5}


def test_same_seed_gives_identical_bytes(tmp_path):
    assert_seed_decides_bytes(TASK, SMALL, tmp_path)


@pytest.mark.parametrize("key,value,expected", [
    ("n_points", 11, "integer >= 12"),
    ("n_traj", 0, "integer >= 1"),
    ("forcing", 0.0, "> 0"),
    ("modes", 0, "integer >= 1"),
    ("threshold", float("nan"), "finite"),
])
def test_bad_options_raise_before_any_work(tmp_path, key, value, expected):
    assert_refused_before_work(TASK, {**SMALL, key: value}, key, expected, tmp_path / "out")
