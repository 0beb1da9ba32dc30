//! drift's integration suite: runs the real `drift` binary on small specs in temporary caches.

mod util;

mod agm;
mod concurrency;
mod crash;
mod determinism;
mod failures;
mod incremental;
mod integrity;
mod invalid;
mod outputs;
mod quality;
mod reflow;
mod tidy;
mod user_data;
mod zoo;
