//! drift's integration suite: runs the real `drift` binary on small specs in temporary caches.

mod util;

mod agm;
mod bundles;
mod compose;
mod concurrency;
mod crash;
mod determinism;
mod failures;
mod html_report;
mod incremental;
mod integrity;
mod invalid;
mod outputs;
mod quality;
mod reflow;
mod remote;
mod results;
mod slurm;
mod storage;
mod tidy;
mod user_data;
mod zoo;
