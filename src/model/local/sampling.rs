//! Choosing the next token: greedy at temperature 0, otherwise temperature and top-p with a
//! seeded generator, so the same seed gives the same trajectory.

use candle_core::{Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f64,
    /// Nucleus mass kept, in (0, 1].
    pub top_p: f64,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: crate::rng::SplitMix,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        Sampler {
            params,
            rng: crate::rng::SplitMix::new(params.seed ^ 0x5DEE_CE66_D1CE_4E5B),
        }
    }

    fn next_unit(&mut self) -> f64 {
        self.rng.unit()
    }

    /// The next token from f32 logits `(vocab,)`.
    pub fn sample(&mut self, logits: &Tensor) -> Result<u32> {
        let logits: Vec<f32> = logits.to_vec1()?;
        Ok(self.sample_slice(&logits))
    }

    pub fn sample_slice(&mut self, logits: &[f32]) -> u32 {
        if self.params.temperature <= 0.0 {
            return argmax(logits);
        }
        let temperature = self.params.temperature as f32;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probabilities: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, f64::from(((l - max) / temperature).exp())))
            .collect();
        let total: f64 = probabilities.iter().map(|(_, p)| p).sum();
        if !(total.is_finite() && total > 0.0) {
            return argmax(logits);
        }
        probabilities.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = Vec::new();
        let mut mass = 0.0;
        for (id, p) in probabilities {
            let p = p / total;
            kept.push((id, p));
            mass += p;
            if mass >= self.params.top_p {
                break;
            }
        }
        let mut target = self.next_unit() * mass;
        for (id, p) in &kept {
            if target < *p {
                return *id;
            }
            target -= p;
        }
        kept.last().map_or(0, |(id, _)| *id)
    }
}

impl Sampler {
    /// Like [`Sampler::sample_slice`], among the tokens `allowed` accepts. The most likely
    /// candidates are tried first, so a constraint is checked against few tokens per step.
    pub fn sample_allowed(&mut self, logits: &[f32], allowed: impl Fn(u32) -> bool) -> Option<u32> {
        const CANDIDATES: usize = 256;
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
        if order.len() > CANDIDATES {
            order.select_nth_unstable_by(CANDIDATES, by_logit);
            let (top, _) = order.split_at_mut(CANDIDATES);
            top.sort_by(by_logit);
        } else {
            order.sort_by(by_logit);
        }
        let mut kept: Vec<u32> = order
            .iter()
            .take(CANDIDATES)
            .copied()
            .filter(|id| allowed(*id))
            .collect();
        if kept.is_empty() {
            // Rare: nothing likely fits; look through the whole vocabulary.
            order.sort_by(by_logit);
            kept = order
                .into_iter()
                .filter(|id| allowed(*id))
                .take(CANDIDATES)
                .collect();
        }
        if kept.is_empty() {
            return None;
        }
        if self.params.temperature <= 0.0 {
            return kept.first().copied();
        }
        let subset: Vec<f32> = kept.iter().map(|id| logits[*id as usize]).collect();
        let choice = self.sample_slice(&subset) as usize;
        kept.get(choice).copied()
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, value) in logits.iter().enumerate() {
        if *value > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_sampling_skips_refused_tokens() {
        let mut sampler = Sampler::new(SamplingParams::default());
        let logits: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(sampler.sample_allowed(&logits, |id| id % 2 == 0), Some(998));
        assert_eq!(sampler.sample_allowed(&logits, |id| id == 3), Some(3));
        assert_eq!(sampler.sample_allowed(&logits, |_| false), None);
    }

    #[test]
    fn greedy_takes_the_maximum() {
        let mut sampler = Sampler::new(SamplingParams::default());
        assert_eq!(sampler.sample_slice(&[0.1, 3.0, -1.0, 2.9]), 1);
    }

    #[test]
    fn seeded_sampling_repeats_and_respects_top_p() {
        let logits = [1.0, 1.2, 0.8, -5.0, 1.1];
        let params = SamplingParams {
            temperature: 1.0,
            top_p: 0.9,
            seed: 7,
        };
        let draw = |params| {
            let mut sampler = Sampler::new(params);
            (0..200)
                .map(|_| sampler.sample_slice(&logits))
                .collect::<Vec<_>>()
        };
        let first = draw(params);
        assert_eq!(first, draw(params));
        assert_ne!(first, draw(SamplingParams { seed: 8, ..params }));
        assert!(!first.contains(&3), "token 3 lies outside the nucleus");
        let distinct: std::collections::BTreeSet<_> = first.iter().collect();
        assert!(distinct.len() >= 3);
    }
}
