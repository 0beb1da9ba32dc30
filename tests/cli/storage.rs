//! A cache the process cannot write (read-only) or that fills up: reads keep working, writes fail
//! with an error naming the path, nothing damaged or partial is left, and once space is back a
//! rerun completes with the same artifacts as an undisturbed run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::util::{Output, Scratch, artifact_digests, spec};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs drift as an unprivileged user: `nobody` through `setpriv` when we are root (root ignores
/// permission bits), else as ourselves. The binary is a copy inside the (world-readable) scratch
/// directory, since `nobody` may not traverse the directories of the build.
fn drift_unprivileged(s: &Scratch, args: &[&str]) -> Output {
    let binary = s.dir.path().join("drift-bin");
    if !binary.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_drift"), &binary).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let cache = s.cache();
    let out = command
        .current_dir("/")
        .arg("--cache")
        .arg(&cache)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("DRIFT_CACHE")
        .output()
        .expect("run drift");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn set_mode_recursive(path: &Path, dir_mode: u32, file_mode: u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        for e in std::fs::read_dir(path).unwrap() {
            set_mode_recursive(&e.unwrap().path(), dir_mode, file_mode);
        }
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
}

#[test]
fn a_read_only_cache_serves_reads_and_refuses_writes_cleanly() {
    let s = Scratch::new();
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tiny = s.write(
        "tiny.toml",
        &std::fs::read_to_string(spec("tiny.toml")).unwrap(),
    );
    std::fs::set_permissions(&tiny, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.run_json(&tiny, &[]);
    let before = artifact_digests(&s.cache());
    set_mode_recursive(&s.cache(), 0o555, 0o444);
    let tiny_arg = tiny.to_str().unwrap();

    // Reading works: status, table, verify.
    let status = drift_unprivileged(&s, &["status", tiny_arg]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("0 stale"), "{}", status.stdout);
    let table = drift_unprivileged(&s, &["table", tiny_arg]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    // A run with nothing to do succeeds on a read-only cache.
    let cached = drift_unprivileged(&s, &["run", tiny_arg]);
    assert_eq!(cached.code, 0, "{}", cached.stderr);

    // A run that must write fails, naming the path and the reason.
    let out = drift_unprivileged(&s, &["run", tiny_arg, "--set", "train.fm.steps=31"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&s.cache().display().to_string()),
        "{}",
        out.stderr
    );

    set_mode_recursive(&s.cache(), 0o755, 0o644);
    assert_eq!(
        artifact_digests(&s.cache()),
        before,
        "the cache is unchanged"
    );
    let verify = s.drift(&["verify", tiny_arg]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

#[test]
fn a_full_cache_fails_cleanly_and_recovers_when_space_is_back() {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let cache = s.cache();
    std::fs::create_dir_all(&cache).unwrap();
    // A 300 KiB file system: room for the data and trainings, not for everything.
    let mounted = is_root()
        && Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=300k", "tmpfs"])
            .arg(&cache)
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a small tmpfs needs root with CAP_SYS_ADMIN");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&cache);
    let args = ["run", tiny.to_str().unwrap(), "--jobs", "1"];
    let out = s.drift(&args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&cache.display().to_string()),
        "{}",
        out.stderr
    );
    // What was committed is whole, and no staging directory is left behind.
    let verify = s.drift(&["verify", tiny.to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    let leftovers = std::fs::read_dir(cache.join("v1/tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "staging directories left in v1/tmp");

    // Space is back: the rerun completes and equals an undisturbed run.
    assert!(
        Command::new("mount")
            .args(["-o", "remount,size=64m"])
            .arg(&cache)
            .status()
            .unwrap()
            .success()
    );
    let out = s.drift(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let undisturbed = Scratch::new();
    undisturbed.run_json(&tiny, &[]);
    assert_eq!(
        artifact_digests(&cache),
        artifact_digests(&undisturbed.cache())
    );
}
