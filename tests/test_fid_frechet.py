"""Fréchet distance against closed forms and an independent computation; KID's unbiasedness."""

import numpy as np
import pytest
import scipy.linalg

from bench.fid.frechet import fid_from_features, frechet_distance, kid, mmd2_unbiased, psd_sqrt, stats


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_diagonal_gaussians_match_closed_form(method):
    rng = np.random.default_rng(0)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    got = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2), method=method)
    assert got == pytest.approx(expected, rel=1e-6)


def random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or 2 * d))
    return a @ a.T / a.shape[1]


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_full_covariance_matches_independent_computation(method):
    """Independent route: tr((S1 S2)^½) from the eigenvalues of the non-symmetric S1 S2."""
    rng = np.random.default_rng(1)
    d = 50
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    tr_sqrt = np.sum(np.sqrt(np.abs(np.linalg.eigvals(s1 @ s2))))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-6)


def test_methods_agree_and_float64_output():
    rng = np.random.default_rng(2)
    s1, s2 = random_spd(rng, 40), random_spd(rng, 40)
    mu = np.zeros(40)
    a = frechet_distance(mu, s1, mu, s2, method="eigh")
    b = frechet_distance(mu, s1, mu, s2, method="sqrtm")
    assert isinstance(a, float) and a == pytest.approx(b, rel=1e-8)
    ref = np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert a == pytest.approx(ref, rel=1e-8)


def test_set_with_itself_is_zero_even_when_rank_deficient():
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(30, 64))  # n < d: singular covariance
    mu, sigma = stats(feats)
    assert mu.dtype == np.float64 and sigma.shape == (64, 64)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6
    assert abs(frechet_distance(mu, sigma, mu, sigma, method="sqrtm")) < 1e-4


def test_set_with_itself_is_zero_for_a_wide_spectrum():
    """Eigenvalues over 10 decades plus exact zeros (dead ReLU features): square roots of the
    eigenvalues of S^½ S S^½ lose the small ones (FID 1.3e-4 here); singular values keep them."""
    rng = np.random.default_rng(9)
    d = 128
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    sigma = (q * np.concatenate([np.logspace(2, -8, 100), np.zeros(d - 100)])) @ q.T
    assert abs(frechet_distance(np.zeros(d), sigma, np.zeros(d), sigma)) < 1e-9
    feats = rng.normal(size=(60, d)) * np.logspace(1, -5, d)  # n < d, feature scales over 6 decades
    assert abs(fid_from_features(*stats(feats), feats)) < 1e-9
    assert abs(frechet_distance(*stats(feats), *stats(feats))) < 1e-9


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError):
        stats(np.zeros((1, 4)))


def test_kid_unbiased_for_same_distribution():
    """Independent draws of one distribution: mean KID over repeats is ~0 within its spread."""
    rng = np.random.default_rng(4)
    values = [mmd2_unbiased(rng.normal(size=(60, 16)), rng.normal(size=(60, 16))) for _ in range(200)]
    mean, std = np.mean(values), np.std(values)
    assert abs(mean) < 3 * std / np.sqrt(len(values))


def test_kid_positive_for_shifted_distribution_and_reproducible():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(200, 16))
    b = rng.normal(size=(200, 16)) + 0.5
    mean, std = kid(a, b, subsets=20, subset_size=100)
    assert mean > 5 * std > 0
    assert kid(a, b, subsets=20, subset_size=100) == (mean, std)
    same_mean, same_std = kid(a, rng.normal(size=(200, 16)), subsets=20, subset_size=100)
    assert abs(same_mean) < mean / 10


def test_kid_clips_subset_size():
    rng = np.random.default_rng(6)
    mean, std = kid(rng.normal(size=(10, 8)), rng.normal(size=(7, 8)), subsets=5, subset_size=1000)
    assert np.isfinite(mean) and np.isfinite(std)


@pytest.mark.parametrize("n2", [5, 40, 90])
def test_fid_from_features_matches_full_route(n2):
    """The n2 x n2 route (n2 <= d) and the d x d fallback (n2 > d) agree with frechet_distance."""
    rng = np.random.default_rng(7)
    d = 60
    mu1, s1 = rng.normal(size=d), random_spd(rng, d)
    feats = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) / 8 + 0.3
    expected = frechet_distance(mu1, s1, *stats(feats))
    assert fid_from_features(mu1, s1, feats) == pytest.approx(expected, rel=1e-9)
    assert fid_from_features(mu1, s1, feats, psd_sqrt(s1)) == fid_from_features(mu1, s1, feats)


def test_fid_from_features_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(8).normal(size=(20, 64))
    assert abs(fid_from_features(*stats(feats), feats)) < 1e-9
