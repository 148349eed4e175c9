//! Statistics for comparing pairings: pass@k and pass^k, bootstrap intervals clustered by
//! mission, McNemar's exact test for paired pass/fail, and a paired bootstrap for continuous
//! measures. Resampling is seeded, so a report's numbers are reproducible.

pub use crate::rng::SplitMix;

/// The unbiased estimate of pass@k from `n` attempts with `c` passes: the chance that at least
/// one of `k` attempts drawn without replacement passes, `1 - C(n-c, k) / C(n, k)`. `None` when
/// `k > n` or `k == 0`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    // C(n-c, k) / C(n, k) = prod_{i=0}^{k-1} (n-c-i) / (n-i)
    let mut ratio = 1.0;
    for i in 0..k {
        ratio *= (n - c - i) as f64 / (n - i) as f64;
    }
    Some(1.0 - ratio)
}

/// pass^k: the chance that all of `k` attempts drawn without replacement pass,
/// `C(c, k) / C(n, k)` (how reliably a pairing passes every time).
pub fn pass_hat_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if c < k {
        return Some(0.0);
    }
    let mut ratio = 1.0;
    for i in 0..k {
        ratio *= (c - i) as f64 / (n - i) as f64;
    }
    Some(ratio)
}

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The `q` quantile (0..=1) of sorted values, by linear interpolation between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.len() == 1 {
        return sorted[0];
    }
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] * (1.0 - weight) + sorted[above] * weight
}

/// Percentile bootstrap interval of a ratio statistic over clusters: each cluster (a mission)
/// contributes `(numerator, denominator)` (passes and runs over its repeats); resamples draw
/// whole clusters with replacement and take `sum(numerators) / sum(denominators)`. With one
/// run per mission this is the ordinary bootstrap of a proportion. `None` without clusters.
pub fn cluster_bootstrap(
    clusters: &[(f64, f64)],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if clusters.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix::new(seed);
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (mut num, mut den) = (0.0, 0.0);
        for _ in 0..clusters.len() {
            let (n, d) = clusters[rng.below(clusters.len())];
            num += n;
            den += d;
        }
        if den > 0.0 {
            stats.push(num / den);
        }
    }
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile(&stats, tail),
        high: quantile(&stats, 1.0 - tail),
    })
}

/// Percentile bootstrap interval of the mean paired difference, resampling clusters of
/// differences (a mission's repeats stay together).
pub fn paired_bootstrap(
    clusters: &[Vec<f64>],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    let sums: Vec<(f64, f64)> = clusters
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| (c.iter().sum(), c.len() as f64))
        .collect();
    cluster_bootstrap(&sums, resamples, level, seed)
}

/// McNemar's exact test on paired pass/fail outcomes: `b` pairs where only the first passed,
/// `c` where only the second did. The two-sided p-value of `min(b, c)` under Binomial(b + c,
/// 1/2); 1 when there is no discordant pair.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space to stay finite for large n.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn pass_at_k_matches_the_combinatorial_definition() {
        for n in 1..=10u64 {
            for c in 0..=n {
                for k in 1..=n {
                    let expected = 1.0 - choose(n - c, k) / choose(n, k);
                    let got = pass_at_k(n, c, k).unwrap();
                    assert!((got - expected).abs() < 1e-12, "n={n} c={c} k={k}");
                    let expected = choose(c, k) / choose(n, k);
                    let got = pass_hat_k(n, c, k).unwrap();
                    assert!((got - expected).abs() < 1e-12, "n={n} c={c} k={k}");
                }
            }
        }
        assert!((pass_at_k(5, 2, 2).unwrap() - 0.7).abs() < 1e-12);
        assert!((pass_hat_k(5, 2, 2).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(pass_at_k(3, 1, 4), None);
        assert!((pass_at_k(3, 1, 1).unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        // b = 1, c = 8: 2 * (C(9,0) + C(9,1)) / 2^9.
        assert!((mcnemar_exact(1, 8) - 20.0 / 512.0).abs() < 1e-12);
        assert!((mcnemar_exact(8, 1) - 20.0 / 512.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        // b = 0, c = 5: 2 / 32.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        // Large counts stay finite: b = 100, c = 150.
        let p = mcnemar_exact(100, 150);
        let exact: f64 = (0..=100u64)
            .map(|i| {
                let ln = (1..=i)
                    .map(|j| ((250 - j + 1) as f64 / j as f64).ln())
                    .sum::<f64>();
                (ln - 250.0 * std::f64::consts::LN_2).exp()
            })
            .sum::<f64>()
            * 2.0;
        assert!((p - exact).abs() < 1e-12 && p > 0.0 && p < 0.01, "{p}");
    }

    /// The exact bootstrap distribution of three clusters (27 equally likely resamples) gives
    /// the interval the Monte Carlo bootstrap must approach.
    #[test]
    fn cluster_bootstrap_approaches_the_enumerated_distribution() {
        // Missions with (passes, runs): 2/2, 1/2, 0/2.
        let clusters = [(2.0, 2.0), (1.0, 2.0), (0.0, 2.0)];
        let mut exact = Vec::new();
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    let picks = [clusters[a], clusters[b], clusters[c]];
                    let num: f64 = picks.iter().map(|p| p.0).sum();
                    let den: f64 = picks.iter().map(|p| p.1).sum();
                    exact.push(num / den);
                }
            }
        }
        exact.sort_by(f64::total_cmp);
        // 2.5% and 97.5% of 27 equally likely values: the lowest (0/6) and the highest (6/6)
        // each have weight 1/27 > 2.5%.
        assert_eq!(exact[0], 0.0);
        assert_eq!(exact[26], 1.0);
        let interval = cluster_bootstrap(&clusters, 20_000, 0.95, 7).unwrap();
        assert!(interval.low.abs() < 1e-9, "{interval:?}");
        assert!((interval.high - 1.0).abs() < 1e-9, "{interval:?}");
        // The 80% interval: the 10% and 90% points of the enumerated distribution.
        let p10 = quantile(&exact, 0.10);
        let p90 = quantile(&exact, 0.90);
        let interval = cluster_bootstrap(&clusters, 20_000, 0.80, 7).unwrap();
        assert!(
            (interval.low - p10).abs() <= 1.0 / 6.0 + 1e-9,
            "{interval:?} vs {p10}"
        );
        assert!(
            (interval.high - p90).abs() <= 1.0 / 6.0 + 1e-9,
            "{interval:?} vs {p90}"
        );
        // Same seed, same interval.
        assert_eq!(
            cluster_bootstrap(&clusters, 1000, 0.95, 3),
            cluster_bootstrap(&clusters, 1000, 0.95, 3)
        );
    }

    #[test]
    fn paired_bootstrap_of_a_constant_difference_is_that_difference() {
        let clusters = vec![vec![2.0, 2.0], vec![2.0], vec![2.0, 2.0, 2.0]];
        let interval = paired_bootstrap(&clusters, 500, 0.95, 1).unwrap();
        assert_eq!(
            interval,
            Interval {
                low: 2.0,
                high: 2.0
            }
        );
        let mixed = vec![vec![1.0], vec![-1.0], vec![3.0], vec![1.0]];
        let interval = paired_bootstrap(&mixed, 5000, 0.95, 1).unwrap();
        assert!(
            interval.low < 1.0
                && interval.high > 1.0
                && interval.low >= -1.0
                && interval.high <= 3.0
        );
        assert_eq!(paired_bootstrap(&[], 10, 0.95, 1), None);
    }

    #[test]
    fn the_generator_is_uniform_enough() {
        let mut rng = SplitMix::new(42);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_400..10_600).contains(&c)),
            "{counts:?}"
        );
    }
}
