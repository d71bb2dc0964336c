//! Progress bars on stderr, one per blob, drawn only when stderr is a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use wharf_client::{Digest, ProgressCallback, ProgressEvent, ProgressState};

/// The bars of one command's transfers, keyed by blob digest.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
    labels: Mutex<HashMap<Digest, String>>,
}

impl Bars {
    /// Bars drawn on stderr, or `None` when stderr is not a terminal (a pipe, a file,
    /// CI), where nothing should be drawn at all.
    pub fn for_stderr() -> Option<Arc<Bars>> {
        std::io::stderr()
            .is_terminal()
            .then(|| Arc::new(Bars::new(ProgressDrawTarget::stderr())))
    }

    pub fn new(target: ProgressDrawTarget) -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            labels: Mutex::new(HashMap::new()),
        }
    }

    /// Names the bar of `digest` (e.g. with a file name) instead of its short digest.
    pub fn label(&self, digest: &Digest, label: impl Into<String>) {
        self.labels
            .lock()
            .expect("labels lock")
            .insert(digest.clone(), label.into());
    }

    /// The callback to put into `ClientConfig.progress`.
    pub fn callback(self: &Arc<Self>) -> ProgressCallback {
        let bars = Arc::clone(self);
        Arc::new(move |event: &ProgressEvent| bars.update(event))
    }

    pub fn update(&self, event: &ProgressEvent) {
        let bar = self.bar(&event.digest, event.total);
        if event.total > 0 && bar.length() != Some(event.total) {
            bar.set_length(event.total);
        }
        match event.state {
            ProgressState::Started | ProgressState::Transferring => bar.set_position(event.done),
            ProgressState::Skipped => finish(&bar, "exists"),
            ProgressState::Mounted => finish(&bar, "mounted"),
            ProgressState::Finished => finish(&bar, "done"),
        }
    }

    fn bar(&self, digest: &Digest, total: u64) -> ProgressBar {
        let mut bars = self.bars.lock().expect("bars lock");
        if let Some(bar) = bars.get(digest) {
            return bar.clone();
        }
        let label = self
            .labels
            .lock()
            .expect("labels lock")
            .get(digest)
            .cloned()
            .unwrap_or_else(|| short(digest));
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:<24!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
            )
            .expect("the progress template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(label);
        bars.insert(digest.clone(), bar.clone());
        bar
    }

    /// How many blobs have a bar (for tests).
    #[cfg(test)]
    fn count(&self) -> usize {
        self.bars.lock().unwrap().len()
    }
}

fn finish(bar: &ProgressBar, message: &'static str) {
    if let Some(len) = bar.length() {
        bar.set_position(len);
    }
    bar.finish_with_message(message);
}

/// `sha256:0123456789ab`: enough of a digest to tell blobs apart.
fn short(digest: &Digest) -> String {
    let text = digest.to_string();
    let cut = text.find(':').map(|i| i + 13).unwrap_or(text.len()).min(text.len());
    text[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_blob_through_every_state() {
        let bars = Arc::new(Bars::new(ProgressDrawTarget::hidden()));
        let callback = bars.callback();
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        bars.label(&a, "a.txt");
        let event = |digest: &Digest, done, state| ProgressEvent {
            digest: digest.clone(),
            done,
            total: 10,
            state,
        };
        callback(&event(&a, 0, ProgressState::Started));
        callback(&event(&a, 5, ProgressState::Transferring));
        callback(&event(&b, 10, ProgressState::Skipped));
        callback(&event(&a, 10, ProgressState::Finished));
        assert_eq!(bars.count(), 2);
        let bar = bars.bar(&a, 10);
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 10);
        assert_eq!(bar.prefix(), "a.txt");
        assert_eq!(short(&b).len(), "sha256:".len() + 12);
    }
}
