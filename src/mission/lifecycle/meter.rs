//! Tokens, cost and time a mission spent, against its budget.

use super::*;

/// Tokens, cost and time spent by a mission, against its budget.
pub struct MissionMeter {
    budget: Budget,
    started: Mutex<Instant>,
    tokens: AtomicU64,
    cost_usd: Mutex<f64>,
}

impl MissionMeter {
    pub fn new(budget: Budget) -> MissionMeter {
        MissionMeter {
            budget,
            started: Mutex::new(Instant::now()),
            tokens: AtomicU64::new(0),
            cost_usd: Mutex::new(0.0),
        }
    }

    /// Time spent on the mission, including what a resumed mission carried over.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Tokens, cost in USD and time spent so far.
    pub fn totals(&self) -> (u64, f64, std::time::Duration) {
        let cost = *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner());
        (self.tokens.load(Ordering::SeqCst), cost, self.elapsed())
    }

    /// Sets the spend to what a checkpoint recorded (a resumed mission carries it over).
    pub fn restore(&self, tokens: u64, cost_usd: f64, elapsed: std::time::Duration) {
        self.tokens.store(tokens, Ordering::SeqCst);
        *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner()) = cost_usd;
        let now = Instant::now();
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) =
            now.checked_sub(elapsed).unwrap_or(now);
    }

    pub fn halt_reason(&self) -> Option<Halt> {
        let tokens = self.tokens.load(Ordering::SeqCst);
        if tokens >= self.budget.max_tokens {
            return Some(Halt::new(
                HaltReason::MaxTokens,
                format!(
                    "{tokens} tokens used; the budget is {}",
                    self.budget.max_tokens
                ),
            ));
        }
        let cost = *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(max) = self.budget.max_cost_usd {
            if cost >= max {
                return Some(Halt::new(
                    HaltReason::MaxCost,
                    format!("${cost:.4} spent; the budget is ${max:.4}"),
                ));
            }
        }
        let elapsed = self.elapsed();
        if elapsed >= self.budget.max_wall_time {
            return Some(Halt::new(
                HaltReason::MaxWallTime,
                format!(
                    "{:.0} s elapsed; the budget is {} s",
                    elapsed.as_secs_f64(),
                    self.budget.max_wall_time.as_secs()
                ),
            ));
        }
        None
    }
}

impl Meter for MissionMeter {
    fn exhausted(&self) -> Option<String> {
        self.halt_reason().map(|halt| halt.detail)
    }

    fn charge(&self, usage: &Usage, cost_usd: Option<f64>) {
        self.tokens.fetch_add(usage.total(), Ordering::SeqCst);
        if let Some(cost) = cost_usd {
            *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner()) += cost;
        }
    }
}
