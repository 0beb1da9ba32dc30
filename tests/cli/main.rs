//! drift's integration suite: runs the real `drift` binary on small specs in temporary caches.

mod util;

mod determinism;
mod failures;
mod incremental;
mod invalid;
mod outputs;
mod quality;
mod tidy;
