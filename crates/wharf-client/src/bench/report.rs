//! A run as JSON, and several runs side by side: the median of each figure per label.

use super::stats::WorkloadResult;
use std::collections::BTreeMap;

/// One run of the bench against one registry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BenchRun {
    pub label: String,
    pub url: String,
    pub results: Vec<WorkloadResult>,
    /// `idle_rss_mib`, `peak_rss_mib` when the server's pid was given.
    #[serde(default)]
    pub server: BTreeMap<String, f64>,
}

/// A table with one column per label, one row per workload figure; each cell is the
/// median over that label's runs, with every run's value in brackets when there are
/// several.
pub fn compare(runs: &[BenchRun]) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for run in runs {
        if !labels.contains(&run.label.as_str()) {
            labels.push(&run.label);
        }
    }
    // (row name) → label → values, rows in first-seen order.
    let mut rows: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in runs {
        let mut add = |row: String, value: f64| {
            if !rows.contains(&row) {
                rows.push(row.clone());
            }
            cells.entry((row, run.label.clone())).or_default().push(value);
        };
        for result in &run.results {
            for (figure, value) in &result.figures {
                add(format!("{} {figure}", result.name), *value);
            }
            if !result.ok {
                failed.entry(run.label.clone()).or_default().push(result.name.clone());
            }
        }
        for (figure, value) in &run.server {
            add(format!("server {figure}"), *value);
        }
    }
    let mut out = format!(
        "| figure | {} |\n|---|{}\n",
        labels.join(" | "),
        "---:|".repeat(labels.len())
    );
    for row in &rows {
        out.push_str(&format!("| {row} |"));
        for label in &labels {
            let cell = match cells.get(&(row.clone(), label.to_string())) {
                Some(values) => format_cell(values),
                None => "–".to_string(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out.push_str("| status |");
    for label in &labels {
        match failed.get(*label) {
            Some(names) => out.push_str(&format!(" FAILED: {} |", names.join(", "))),
            None => out.push_str(" all OK |"),
        }
    }
    out.push('\n');
    out
}

fn format_cell(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[(sorted.len() - 1) / 2];
    if values.len() == 1 {
        return fmt(median);
    }
    let all: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
    format!("{} ({})", fmt(median), all.join(" / "))
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, rps: f64) -> BenchRun {
        let mut r = WorkloadResult::new("manifest_get");
        r.set("rps", rps);
        BenchRun {
            label: label.into(),
            url: "http://x".into(),
            results: vec![r],
            server: BTreeMap::from([("idle_rss_mib".to_string(), 9.5)]),
        }
    }

    #[test]
    fn medians_per_label_side_by_side() {
        let table = compare(&[run("a", 10.0), run("b", 1000.0), run("a", 30.0), run("a", 20.0)]);
        assert!(
            table.contains("| manifest_get rps | 20.00 (10.00 / 30.00 / 20.00) | 1000 |"),
            "{table}"
        );
        assert!(
            table.contains("| server idle_rss_mib | 9.50 (9.50 / 9.50 / 9.50) | 9.50 |"),
            "{table}"
        );
        assert!(table.contains("all OK"));
    }
}
