//! Choosing the next token, in llama.cpp's default order: the repetition penalty over the
//! trajectory's last [`REPETITION_WINDOW`] tokens, then top-k, top-p and min-p (which keep
//! tokens by their penalised logits at temperature 1), then temperature, then a draw from a
//! seeded generator. Temperature 0 is greedy: the highest penalised logit. The same seed, the
//! same observed tokens and the same logits give the same token.
//!
//! [`Sampler::sample_allowed`] draws from that same distribution restricted to the tokens a
//! constraint accepts. It asks the constraint about the drawn token first and, on refusal,
//! takes that token out and draws again, so a constraint that agrees with the model is asked
//! about one token per step.

use std::collections::{BTreeSet, VecDeque};

use candle_core::{Result, Tensor};

/// How many of the trajectory's last tokens the repetition penalty looks at (llama.cpp's
/// `repeat_last_n` default).
pub const REPETITION_WINDOW: usize = 64;

/// Draws that may be refused before the constraint is asked about every remaining candidate
/// at once (which gives the same distribution, in fewer draws when most candidates are refused).
const LAZY_DRAWS: usize = 32;

/// Greedy decoding under a constraint asks about this many best tokens before sorting them all.
const GREEDY_HEAD: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f64,
    /// Nucleus mass kept, in (0, 1]; 1 keeps every token.
    pub top_p: f64,
    /// The most likely tokens kept; 0 keeps every token.
    pub top_k: usize,
    /// Tokens less likely than `min_p` times the most likely one are dropped, in [0, 1]; 0 keeps
    /// every token.
    pub min_p: f64,
    /// Divides positive logits and multiplies negative ones of tokens among the last
    /// [`REPETITION_WINDOW`] of the trajectory (llama.cpp's `repeat_penalty`); 1 is off.
    pub repetition_penalty: f64,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// A `candle` model's keys; each one left out is off (temperature 0 is greedy).
    pub fn of_config(config: &crate::spec::config::ModelConfig) -> SamplingParams {
        let off = SamplingParams::default();
        SamplingParams {
            temperature: config.temperature.unwrap_or(off.temperature),
            top_p: config.top_p.unwrap_or(off.top_p),
            top_k: config.top_k.unwrap_or(off.top_k),
            min_p: config.min_p.unwrap_or(off.min_p),
            repetition_penalty: config.repetition_penalty.unwrap_or(off.repetition_penalty),
            seed: config.seed.unwrap_or(off.seed),
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: crate::rng::SplitMix,
    /// The trajectory's last tokens, oldest first.
    window: VecDeque<u32>,
}

/// Candidates after truncation: ids with their penalised logits.
type Candidates = Vec<(u32, f32)>;

/// Higher logit first, then lower id: a total order, so every sort gives one result.
fn by_logit(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        Sampler {
            params,
            rng: crate::rng::SplitMix::new(params.seed ^ 0x5DEE_CE66_D1CE_4E5B),
            window: VecDeque::with_capacity(REPETITION_WINDOW),
        }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Records a token appended to the trajectory (prompt or generated), for the repetition
    /// penalty.
    pub fn observe(&mut self, token: u32) {
        if self.window.len() == REPETITION_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(token);
    }

    /// Forgets the observed tokens: the trajectory is about to be observed again from the start.
    pub fn clear_window(&mut self) {
        self.window.clear();
    }

    /// The next token from f32 logits `(vocab,)`.
    pub fn sample(&mut self, logits: &Tensor) -> Result<u32> {
        let logits: Vec<f32> = logits.to_vec1()?;
        Ok(self.sample_slice(&logits))
    }

    pub fn sample_slice(&mut self, logits: &[f32]) -> u32 {
        let logits = self.penalised(logits);
        if self.params.is_greedy() {
            return argmax(&logits);
        }
        let candidates = self.truncated(&logits, (0..logits.len() as u32).collect());
        let weights = self.weights(&candidates);
        match self.draw(&weights) {
            Some(i) => candidates[i].0,
            None => argmax(&logits),
        }
    }

    /// Like [`Sampler::sample_slice`], from the same distribution restricted to the tokens
    /// `allowed` accepts (greedy: the best accepted token); `None` when it accepts none.
    /// `allowed` is asked about each token at most once, drawn tokens first: only when every
    /// candidate left after truncation is refused is the whole vocabulary asked, and the
    /// chain applied again to the tokens it accepts.
    pub fn sample_allowed(&mut self, logits: &[f32], allowed: impl Fn(u32) -> bool) -> Option<u32> {
        let logits = self.penalised(logits);
        if self.params.is_greedy() {
            return best_allowed(&logits, &allowed);
        }
        let candidates = self.truncated(&logits, (0..logits.len() as u32).collect());
        let mut weights = self.weights(&candidates);
        let mut refused = BTreeSet::new();
        // Drawing, and drawing again without each refused token, is rejection sampling: the
        // token it ends with follows the distribution restricted to accepted tokens.
        loop {
            if refused.len() >= LAZY_DRAWS {
                // Many refusals: ask about the rest at once and draw among those accepted.
                for (weight, (id, _)) in weights.iter_mut().zip(&candidates) {
                    if *weight > 0.0 && !allowed(*id) {
                        *weight = 0.0;
                        refused.insert(*id);
                    }
                }
                match self.draw(&weights) {
                    Some(i) => return Some(candidates[i].0),
                    None => break,
                }
            }
            let Some(i) = self.draw(&weights) else {
                break;
            };
            let id = candidates[i].0;
            if allowed(id) {
                return Some(id);
            }
            weights[i] = 0.0;
            refused.insert(id);
        }
        // No candidate is accepted: the chain again, over the accepted tokens of the vocabulary.
        let pool: Vec<u32> = (0..logits.len() as u32)
            .filter(|id| !refused.contains(id) && allowed(*id))
            .collect();
        let first = pool.first().copied();
        let candidates = self.truncated(&logits, pool);
        let weights = self.weights(&candidates);
        match self.draw(&weights) {
            Some(i) => Some(candidates[i].0),
            // Accepted tokens exist, but the model gives each of them no chance at all.
            None => first,
        }
    }

    /// The logits with the repetition penalty applied; NaN becomes minus infinity.
    fn penalised(&self, logits: &[f32]) -> Vec<f32> {
        let mut out: Vec<f32> = logits
            .iter()
            .map(|l| if l.is_nan() { f32::NEG_INFINITY } else { *l })
            .collect();
        let penalty = self.params.repetition_penalty as f32;
        if penalty != 1.0 {
            // Once per distinct token, however often it occurs (llama.cpp's repeat penalty).
            let seen: BTreeSet<u32> = self.window.iter().copied().collect();
            for id in seen {
                if let Some(logit) = out.get_mut(id as usize) {
                    *logit = if *logit <= 0.0 {
                        *logit * penalty
                    } else {
                        *logit / penalty
                    };
                }
            }
        }
        out
    }

    /// The tokens of `pool` that top-k, then top-p, then min-p keep, in a canonical order: by
    /// logit when a truncation sorted them, by id otherwise. Tokens at minus infinity never are.
    fn truncated(&self, logits: &[f32], pool: Vec<u32>) -> Candidates {
        let mut candidates: Candidates = pool
            .into_iter()
            .filter_map(|id| {
                let logit = logits[id as usize];
                (logit > f32::NEG_INFINITY).then_some((id, logit))
            })
            .collect();
        let k = self.params.top_k;
        if k > 0 && k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, by_logit);
            candidates.truncate(k);
            candidates.sort_by(by_logit);
        }
        if self.params.top_p < 1.0 && !candidates.is_empty() {
            // The smallest set of most likely tokens whose mass reaches top_p (the token that
            // reaches it included), sorting only as far as needed.
            let max = max_logit(&candidates);
            let total: f64 = candidates
                .iter()
                .map(|(_, l)| f64::from(l - max).exp())
                .sum();
            let target = self.params.top_p * total;
            let (mut sorted, mut chunk, mut mass) = (0, 64, 0.0);
            while sorted < candidates.len() {
                let rest = &mut candidates[sorted..];
                let take = chunk.min(rest.len());
                if take < rest.len() {
                    rest.select_nth_unstable_by(take - 1, by_logit);
                }
                rest[..take].sort_by(by_logit);
                let reached = rest[..take].iter().position(|(_, l)| {
                    mass += f64::from(l - max).exp();
                    mass >= target
                });
                if let Some(at) = reached {
                    candidates.truncate(sorted + at + 1);
                    break;
                }
                sorted += take;
                chunk *= 2;
            }
        }
        if self.params.min_p > 0.0 && !candidates.is_empty() {
            let floor = f64::from(max_logit(&candidates)) + self.params.min_p.ln();
            candidates.retain(|(_, l)| f64::from(*l) >= floor);
        }
        candidates
    }

    /// Unnormalised probabilities of the candidates at the temperature.
    fn weights(&self, candidates: &Candidates) -> Vec<f64> {
        let max = f64::from(max_logit(candidates));
        candidates
            .iter()
            .map(|(_, l)| ((f64::from(*l) - max) / self.params.temperature).exp())
            .collect()
    }

    /// An index drawn with probability proportional to its weight; `None` when all are 0.
    fn draw(&mut self, weights: &[f64]) -> Option<usize> {
        let total: f64 = weights.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return None;
        }
        let mut target = self.rng.unit() * total;
        let mut last = None;
        for (i, weight) in weights.iter().enumerate() {
            if *weight > 0.0 {
                if target < *weight {
                    return Some(i);
                }
                target -= weight;
                last = Some(i);
            }
        }
        // Rounding left a sliver past the last weight.
        last
    }
}

fn max_logit(candidates: &Candidates) -> f32 {
    candidates
        .iter()
        .map(|(_, l)| *l)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// The first index of the highest value.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, value) in logits.iter().enumerate() {
        if *value > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The accepted token with the highest logit (the lowest id among equals), asking about tokens
/// from the best down.
fn best_allowed(logits: &[f32], allowed: &impl Fn(u32) -> bool) -> Option<u32> {
    let best = argmax(logits);
    if logits.is_empty() {
        return None;
    }
    if allowed(best) {
        return Some(best);
    }
    let mut order: Candidates = logits
        .iter()
        .enumerate()
        .filter(|(id, _)| *id as u32 != best)
        .map(|(id, l)| (id as u32, *l))
        .collect();
    let head = GREEDY_HEAD.min(order.len());
    if head == 0 {
        return None;
    }
    if head < order.len() {
        order.select_nth_unstable_by(head - 1, by_logit);
    }
    order[..head].sort_by(by_logit);
    if let Some((id, _)) = order[..head].iter().find(|(id, _)| allowed(*id)) {
        return Some(*id);
    }
    let rest = &mut order[head..];
    rest.sort_by(by_logit);
    rest.iter().find(|(id, _)| allowed(*id)).map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn sampling(temperature: f64) -> SamplingParams {
        SamplingParams {
            temperature,
            seed: 7,
            ..SamplingParams::default()
        }
    }

    /// The distribution the sampler draws from, normalised, by token id.
    fn distribution(sampler: &Sampler, logits: &[f32]) -> Vec<f64> {
        let penalised = sampler.penalised(logits);
        let candidates = sampler.truncated(&penalised, (0..logits.len() as u32).collect());
        let weights = sampler.weights(&candidates);
        let total: f64 = weights.iter().sum();
        let mut out = vec![0.0; logits.len()];
        for ((id, _), w) in candidates.iter().zip(&weights) {
            out[*id as usize] = w / total;
        }
        out
    }

    fn softmax(logits: &[f64]) -> Vec<f64> {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = exp.iter().sum();
        exp.iter().map(|e| e / total).collect()
    }

    fn assert_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-9, "token {i}: {a} vs {e} ({actual:?})");
        }
    }

    #[test]
    fn greedy_takes_the_maximum() {
        let mut sampler = Sampler::new(SamplingParams::default());
        assert_eq!(sampler.sample_slice(&[0.1, 3.0, -1.0, 2.9]), 1);
        // Ties go to the lower id; NaN is never chosen.
        assert_eq!(sampler.sample_slice(&[f32::NAN, 2.0, 2.0]), 1);
    }

    #[test]
    fn greedy_under_a_constraint_takes_the_best_accepted_token() {
        let mut sampler = Sampler::new(SamplingParams::default());
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 1000) as f32).collect();
        let best_even = (0..1000u32)
            .filter(|id| id % 2 == 0)
            .max_by(|a, b| logits[*a as usize].total_cmp(&logits[*b as usize]))
            .unwrap();
        assert_eq!(
            sampler.sample_allowed(&logits, |id| id % 2 == 0),
            Some(best_even)
        );
        // Past the first 256 candidates, the rest of the vocabulary is searched.
        let worst = argmin(&logits);
        assert_eq!(
            sampler.sample_allowed(&logits, |id| id == worst),
            Some(worst)
        );
        assert_eq!(sampler.sample_allowed(&logits, |_| false), None);
        // The best token accepted: the constraint is asked once.
        let asked = Cell::new(0);
        let best = sampler.sample_allowed(&logits, |_| {
            asked.set(asked.get() + 1);
            true
        });
        assert_eq!((best, asked.get()), (Some(argmax(&logits)), 1));
    }

    fn argmin(logits: &[f32]) -> u32 {
        (0..logits.len() as u32)
            .min_by(|a, b| logits[*a as usize].total_cmp(&logits[*b as usize]))
            .unwrap()
    }

    #[test]
    fn the_repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        let mut sampler = Sampler::new(SamplingParams {
            repetition_penalty: 2.0,
            ..SamplingParams::default()
        });
        // Token 0 repeats: 4.0 / 2 = 2.0 falls below token 1; token 2's -1.0 becomes -2.0.
        for token in [0, 0, 2] {
            sampler.observe(token);
        }
        assert_eq!(sampler.penalised(&[4.0, 3.0, -1.0]), vec![2.0, 3.0, -2.0]);
        assert_eq!(sampler.sample_slice(&[4.0, 3.0, -1.0]), 1);
        // Only the last REPETITION_WINDOW tokens count.
        for _ in 0..REPETITION_WINDOW {
            sampler.observe(5);
        }
        assert_eq!(sampler.sample_slice(&[4.0, 3.0, -1.0]), 0);
        sampler.observe(0);
        sampler.clear_window();
        assert_eq!(sampler.sample_slice(&[4.0, 3.0, -1.0]), 0);
    }

    #[test]
    fn the_chain_applies_penalty_top_k_top_p_min_p_then_temperature() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0, 3.0];
        let as_f64: Vec<f64> = logits.iter().map(|l| f64::from(*l)).collect();
        // Temperature alone: softmax of logits / T over every token.
        let sampler = Sampler::new(sampling(0.5));
        let scaled: Vec<f64> = as_f64.iter().map(|l| l / 0.5).collect();
        assert_close(&distribution(&sampler, &logits), &softmax(&scaled));

        // top-k 3 keeps tokens 5, 0, 1; temperature 2 then flattens them.
        let sampler = Sampler::new(SamplingParams {
            top_k: 3,
            ..sampling(2.0)
        });
        let kept = softmax(&[3.0 / 2.0, 2.0 / 2.0, 1.0 / 2.0]);
        assert_close(
            &distribution(&sampler, &logits),
            &[kept[1], kept[2], 0.0, 0.0, 0.0, kept[0]],
        );

        // top-p is decided at temperature 1, not at the sampling temperature: token 5 alone
        // holds 0.61 of the mass, tokens 5 and 0 hold 0.84.
        let p = softmax(&as_f64);
        assert!(p[5] < 0.7 && p[5] + p[0] > 0.7);
        let sampler = Sampler::new(SamplingParams {
            top_p: 0.7,
            ..sampling(3.0)
        });
        let kept = softmax(&[3.0 / 3.0, 2.0 / 3.0]);
        assert_close(
            &distribution(&sampler, &logits),
            &[kept[1], 0.0, 0.0, 0.0, 0.0, kept[0]],
        );

        // min-p 0.2 keeps tokens at least 0.2 times as likely as the best: logit >= 3 + ln 0.2
        // = 1.39, so tokens 5 and 0.
        let sampler = Sampler::new(SamplingParams {
            min_p: 0.2,
            ..sampling(1.0)
        });
        let kept = softmax(&[3.0, 2.0]);
        assert_close(
            &distribution(&sampler, &logits),
            &[kept[1], 0.0, 0.0, 0.0, 0.0, kept[0]],
        );

        // The penalty comes first: token 5 repeated falls to 1.5, so top-k 2 keeps 0 and 5.
        let mut sampler = Sampler::new(SamplingParams {
            repetition_penalty: 2.0,
            top_k: 2,
            ..sampling(1.0)
        });
        sampler.observe(5);
        let kept = softmax(&[2.0, 1.5]);
        assert_close(
            &distribution(&sampler, &logits),
            &[kept[0], 0.0, 0.0, 0.0, 0.0, kept[1]],
        );
    }

    #[test]
    fn top_p_over_a_large_vocabulary_keeps_the_smallest_head() {
        // 5000 tokens: the head is found over several partial sorts.
        let logits: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 5000) as f32 / 500.0)
            .collect();
        let sampler = Sampler::new(SamplingParams {
            top_p: 0.9,
            ..sampling(1.0)
        });
        let kept = sampler.truncated(&logits, (0..5000).collect());
        let mut all: Vec<f64> = logits.iter().map(|l| f64::from(*l)).collect();
        let probabilities = softmax(&all);
        all.sort_by(|a, b| b.total_cmp(a));
        let mut sorted = probabilities.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let mut mass = 0.0;
        let expected = sorted
            .iter()
            .position(|p| {
                mass += p;
                mass >= 0.9
            })
            .unwrap()
            + 1;
        assert_eq!(kept.len(), expected);
        assert!(kept.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(f64::from(kept.last().unwrap().1), all[expected - 1]);
    }

    #[test]
    fn constrained_draws_follow_the_restricted_distribution() {
        let logits = [1.0f32, 1.2, 0.8, -5.0, 1.1, 0.3, 2.0, -0.5];
        let params = SamplingParams {
            top_p: 0.95,
            repetition_penalty: 1.3,
            ..sampling(0.8)
        };
        let allowed = |id: u32| id != 6 && id != 1;
        let mut sampler = Sampler::new(params);
        sampler.observe(4);
        let full = distribution(&sampler, &logits);
        let mass: f64 = (0..8)
            .filter(|id| allowed(*id))
            .map(|id| full[id as usize])
            .sum();
        let expected: Vec<f64> = (0..8u32)
            .map(|id| {
                if allowed(id) {
                    full[id as usize] / mass
                } else {
                    0.0
                }
            })
            .collect();
        assert!(expected[3] == 0.0, "token 3 lies outside the nucleus");
        let draws = 200_000;
        let mut counts = [0u64; 8];
        for _ in 0..draws {
            counts[sampler.sample_allowed(&logits, allowed).unwrap() as usize] += 1;
        }
        for (id, (count, p)) in counts.iter().zip(&expected).enumerate() {
            let frequency = *count as f64 / draws as f64;
            // Five standard errors of a frequency over this many draws.
            let tolerance = 5.0 * (p * (1.0 - p) / draws as f64).sqrt() + 1e-12;
            assert!(
                (frequency - p).abs() <= tolerance,
                "token {id}: {frequency} vs {p} (± {tolerance})"
            );
        }
    }

    #[test]
    fn a_constraint_that_accepts_the_draw_is_asked_once_and_changes_nothing() {
        let logits: Vec<f32> = (0..3000)
            .map(|i| ((i * 31) % 3000) as f32 / 300.0)
            .collect();
        let params = SamplingParams {
            top_k: 100,
            ..sampling(1.0)
        };
        let (mut free, mut constrained) = (Sampler::new(params), Sampler::new(params));
        for _ in 0..100 {
            let asked = Cell::new(0);
            let token = constrained.sample_allowed(&logits, |_| {
                asked.set(asked.get() + 1);
                true
            });
            assert_eq!(token, Some(free.sample_slice(&logits)));
            assert_eq!(asked.get(), 1);
        }
    }

    #[test]
    fn refused_candidates_fall_back_to_the_vocabulary() {
        let logits: Vec<f32> = (0..400).map(|i| i as f32 / 10.0).collect();
        let mut sampler = Sampler::new(SamplingParams {
            top_k: 5,
            ..sampling(1.0)
        });
        // Every one of the 5 candidates is refused: the best accepted tokens outside them.
        let asked = std::cell::RefCell::new(Vec::new());
        let token = sampler
            .sample_allowed(&logits, |id| {
                asked.borrow_mut().push(id);
                id < 100
            })
            .unwrap();
        assert!((95..100).contains(&token), "{token}");
        let asked = asked.into_inner();
        let distinct: BTreeSet<_> = asked.iter().collect();
        assert_eq!(distinct.len(), asked.len(), "a token was asked about twice");
        assert_eq!(sampler.sample_allowed(&logits, |_| false), None);
        // Only tokens the model gives no chance are accepted: one of them, not nothing.
        let mut logits = logits;
        logits[3] = f32::NEG_INFINITY;
        assert_eq!(sampler.sample_allowed(&logits, |id| id == 3), Some(3));
    }

    #[test]
    fn many_refusals_keep_the_restricted_distribution() {
        // 200 equally likely candidates, 2 accepted: past LAZY_DRAWS refusals the rest are asked
        // at once, and the two stay equally likely.
        let logits = vec![0.0f32; 200];
        let mut sampler = Sampler::new(sampling(1.0));
        let mut counts = [0u64; 2];
        let draws = 20_000;
        for _ in 0..draws {
            match sampler.sample_allowed(&logits, |id| id == 17 || id == 180) {
                Some(17) => counts[0] += 1,
                Some(180) => counts[1] += 1,
                other => panic!("{other:?}"),
            }
        }
        let tolerance = 5.0 * (0.25 / draws as f64).sqrt();
        assert!((counts[0] as f64 / draws as f64 - 0.5).abs() <= tolerance);
    }

    #[test]
    fn seeded_sampling_repeats() {
        let logits = [1.0, 1.2, 0.8, -5.0, 1.1];
        let params = SamplingParams {
            top_p: 0.9,
            ..sampling(1.0)
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
        let distinct: BTreeSet<_> = first.iter().collect();
        assert!(distinct.len() >= 3);
    }
}
