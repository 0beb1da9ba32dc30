//! Concurrent runs on one cache: every key is computed exactly once (a per-key OS lock; the
//! waiting process picks the result up), every process ends with the same table, and a lock
//! held by a killed process blocks no one.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::util::{Scratch, instances, spec};

fn spawn(s: &Scratch, spec: &std::path::Path) -> Child {
    s.spawn_run(spec, 2, &[])
}

/// `processes` concurrent runs of tiny.toml and of a variant with an extra seed (so the specs
/// overlap without being equal).
fn concurrent(processes: usize) {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let wider = s.write(
        "tiny3.toml",
        &std::fs::read_to_string(&tiny)
            .unwrap()
            .replace("sweep.seed = [0, 1]", "sweep.seed = [0, 1, 2]"),
    );
    let children: Vec<Child> = (0..processes)
        .map(|i| spawn(&s, if i % 2 == 0 { &tiny } else { &wider }))
        .collect();
    let mut executed: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        for inst in instances(&String::from_utf8_lossy(&out.stdout)) {
            let key = inst["key"].as_str().unwrap().to_string();
            if inst["state"] == "executed" {
                *executed.entry(key.clone()).or_default() += 1;
            }
            assert!(
                inst["state"] == "executed" || inst["state"] == "cached",
                "{inst}"
            );
            seen.insert(key, inst["id"].as_str().unwrap().to_string());
        }
    }
    // Every key of either spec was computed, each exactly once across all processes.
    for (key, id) in &seen {
        assert_eq!(
            executed.get(key),
            Some(&1),
            "{id} ({key}) computed {:?} times",
            executed.get(key)
        );
    }
    // And the tables agree with a run alone.
    let alone = Scratch::new();
    alone.run_json(&tiny, &[]);
    assert_eq!(s.csv_rows(&tiny), alone.csv_rows(&tiny));
}

#[test]
fn two_concurrent_runs_compute_every_key_once() {
    concurrent(2);
}

#[test]
fn four_concurrent_runs_compute_every_key_once() {
    concurrent(4);
}

/// Staging directories under the cache's tmp/: `(key prefix, pid)` of each.
fn staging(s: &Scratch) -> Vec<(String, u32)> {
    std::fs::read_dir(s.cache().join("v1/tmp"))
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                let mut parts = name.split('-');
                Some((parts.next()?.to_string(), parts.next()?.parse().ok()?))
            })
            .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_lock_holder_blocks_no_one() {
    let s = Scratch::new();
    // Trainings long enough to be killed in the middle.
    let long = s.write(
        "long.toml",
        &std::fs::read_to_string(spec("tiny.toml"))
            .unwrap()
            .replace("steps = 30", "steps = 200000"),
    );
    let wait_for = |what: &str, cond: &mut dyn FnMut() -> bool| {
        let started = Instant::now();
        while !cond() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "timed out: {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Process A takes the lock of a training (a staging directory exists only under the lock),
    // then dies by SIGKILL.
    let mut a = s.spawn_run_quiet(&long, 2, &[]);
    let a_pid = a.id();
    // Both data stages committed (so what A stages now are trainings, which take seconds).
    let committed = || {
        std::fs::read_dir(s.cache().join("v1/entries")).map_or(0, |shards| {
            shards
                .filter_map(Result::ok)
                .map(|d| std::fs::read_dir(d.path()).map_or(0, |e| e.count()))
                .sum::<usize>()
        })
    };
    wait_for("A starts a training", &mut || {
        committed() >= 2 && staging(&s).iter().any(|(_, pid)| *pid == a_pid)
    });
    a.kill().unwrap();
    a.wait().unwrap();
    let held: Vec<String> = staging(&s)
        .into_iter()
        .filter(|(_, pid)| *pid == a_pid)
        .map(|(key, _)| key)
        .collect();
    // Process B needs the same keys (with 4 jobs it starts all four trainings at once): it
    // must get the dead holder's locks (the kernel released them) and compute those keys.
    let mut b = s.spawn_run_quiet(&long, 4, &[]);
    let b_pid = b.id();
    wait_for("B takes over A's key", &mut || {
        staging(&s)
            .iter()
            .any(|(key, pid)| *pid == b_pid && held.contains(key))
    });
    b.kill().unwrap();
    b.wait().unwrap();
    // A killed run leaves no entry that looks fresh: status lists the trainings as stale.
    let out = s.drift(&["status", long.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for inst in instances(&out.stdout) {
        if inst["id"].as_str().unwrap().starts_with("train.") {
            assert_eq!(inst["state"], "stale", "{inst}");
        }
    }
}
