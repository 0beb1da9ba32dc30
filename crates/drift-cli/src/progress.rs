//! Live progress on stderr: a bar per running instance and an overall count on a terminal,
//! plain lines otherwise (logs, CI).

use drift_exec::{Progress, Record, State};
use drift_plan::NodeIndex;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

pub struct Reporter {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    bars: Mutex<HashMap<NodeIndex, ProgressBar>>,
    /// Plain mode: (id, last printed decile) per running instance, to print training progress
    /// sparsely.
    deciles: Mutex<HashMap<NodeIndex, (String, u64)>>,
    done: Mutex<usize>,
    total: usize,
}

impl Reporter {
    pub fn new(total: usize) -> Reporter {
        let tty = std::io::stderr().is_terminal();
        let (multi, overall) = if tty {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {pos}/{len} instances  {elapsed}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            overall.set_prefix("drift");
            (Some(multi), Some(overall))
        } else {
            (None, None)
        };
        Reporter {
            multi,
            overall,
            bars: Mutex::new(HashMap::new()),
            deciles: Mutex::new(HashMap::new()),
            done: Mutex::new(0),
            total,
        }
    }

    pub fn finish(&self) {
        if let Some(o) = &self.overall {
            o.finish_and_clear();
        }
    }

    fn line(&self, text: String) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => errln!("{text}"),
        }
    }
}

impl Progress for Reporter {
    fn started(&self, ix: NodeIndex, id: &str) {
        if self.multi.is_none() {
            self.deciles
                .lock()
                .expect("deciles")
                .insert(ix, (id.to_string(), 0));
        }
        if let Some(multi) = &self.multi {
            let bar = multi.insert_from_back(1, ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg}  {elapsed}")
                    .expect("valid template"),
            );
            bar.set_message(id.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bars.lock().expect("bars").insert(ix, bar);
        }
    }

    fn step(&self, ix: NodeIndex, step: u64, steps: u64, loss: Option<f32>) {
        let loss = loss.map(|l| format!("loss {l:.4}")).unwrap_or_default();
        if self.multi.is_some() {
            if let Some(bar) = self.bars.lock().expect("bars").get(&ix) {
                if bar.length() != Some(steps) {
                    bar.set_length(steps);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "  {msg:48} [{bar:24}] {pos}/{len} {prefix}  eta {eta}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                }
                bar.set_position(step);
                bar.set_prefix(loss);
            }
            return;
        }
        let decile = step * 10 / steps.max(1);
        let mut deciles = self.deciles.lock().expect("deciles");
        if let Some((id, last)) = deciles.get_mut(&ix)
            && decile > *last
        {
            *last = decile;
            errln!("         {id}: step {step}/{steps} {loss}");
        }
    }

    fn finished(&self, ix: NodeIndex, record: &Record) {
        self.deciles.lock().expect("deciles").remove(&ix);
        if let Some(bar) = self.bars.lock().expect("bars").remove(&ix) {
            bar.finish_and_clear();
        }
        if let Some(o) = &self.overall {
            o.inc(1);
        }
        let n = {
            let mut done = self.done.lock().expect("done");
            *done += 1;
            *done
        };
        let width = self.total.to_string().len();
        let time = record
            .elapsed
            .map(|d| format!("  ({:.1} s)", d.as_secs_f64()))
            .unwrap_or_default();
        let detail = match record.state {
            State::Failed | State::Skipped => record
                .error
                .clone()
                .or_else(|| record.reasons.first().map(|r| r.to_string()))
                .map(|e| format!("\n           {e}"))
                .unwrap_or_default(),
            State::Executed => record
                .reasons
                .first()
                .map(|r| format!("  [{r}]"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.line(format!(
            "[{n:>width$}/{}] {:<8} {}{time}{detail}",
            self.total,
            record.state.name(),
            record.id
        ));
    }

    fn note(&self, message: &str) {
        self.line(format!("note: {message}"));
    }
}
