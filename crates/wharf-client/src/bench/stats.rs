//! Latency percentiles and the figures of one workload.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one workload measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WorkloadResult {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Figure name → value (`mib_s`, `rps`, `p99_ms`, `errors`, …).
    pub figures: BTreeMap<String, f64>,
}

impl WorkloadResult {
    pub fn new(name: &str) -> WorkloadResult {
        WorkloadResult {
            name: name.to_string(),
            ok: true,
            error: None,
            figures: BTreeMap::new(),
        }
    }

    pub fn set(&mut self, figure: &str, value: f64) {
        self.figures.insert(figure.to_string(), value);
    }

    pub fn failed(mut self, error: impl std::fmt::Display) -> WorkloadResult {
        self.ok = false;
        self.error = Some(error.to_string());
        self
    }
}

/// The `q`-quantile (0..=1) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut s, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&mut s, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&mut [], 0.5), Duration::ZERO);
        assert!((mib_per_s(1 << 20, Duration::from_secs(2)) - 0.5).abs() < 1e-9);
    }
}
