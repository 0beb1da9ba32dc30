//! drift's content-addressed store: one directory per stage key, committed atomically.
//!
//! ```text
//! <cache>/v1/
//!   entries/<2 hex>/<key hex>/   manifest.json + artifact files   (immutable once renamed in)
//!   tmp/<key hex>-<pid>-<n>/     staging; renamed into entries/ only when complete
//!   slots/<hash of experiment and instance id>.json
//!                                the key components last recorded for an instance id: read only
//!                                to explain why an instance is stale (cargo's fingerprint sidecar)
//!   locks/<key hex>.lock         an OS file lock (flock) held while one process computes a key
//!   scratch/<key hex>/           a computation's resumable state (training checkpoints), kept
//!                                across killed runs, removed when the entry commits
//! ```
//! Locks are advisory OS locks on these files, released by the kernel when their holder exits
//! or is killed: a lock file left on disk never blocks anyone.
//! A directory under `entries/` with a readable manifest whose files all exist is the only thing
//! ever treated as fresh. Paths and timings never enter keys; manifests hold timings outside them.

use drift_plan::key::{FileDigest, KeyComponents, OutputDigest, StageKey, output_digest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped when the layout or manifest format changes; old trees are simply ignored.
pub const LAYOUT: &str = "v1";
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("damaged manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The held lock of one key ([`Cache::lock_key`]); dropping it releases the lock.
#[derive(Debug)]
pub struct KeyLock {
    _file: fs::File,
}

/// What is wrong with a damaged entry: the first bad file and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub file: String,
    pub problem: String,
}

/// An entry as found on disk by [`Cache::check_entry`].
#[derive(Debug, Clone)]
pub enum EntryCheck {
    /// No entry directory.
    Absent,
    /// Every listed file is present (and, when verified, has its recorded digest).
    Complete(Box<Manifest>),
    /// The directory exists but the entry cannot be trusted.
    Damaged(Damage),
}

/// One artifact file of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub digest: FileDigest,
    pub bytes: u64,
}

/// Everything recorded about one cache entry. Only `components` determine the key; the rest is
/// provenance and cost, outside the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: StageKey,
    /// The instance id that produced the entry (informational; ids are not part of keys).
    pub id: String,
    /// Every key component, written for people and tools. drift never reads it back (slot
    /// sidecars explain reruns), so reading a manifest skips it unparsed: `None` after a read.
    /// (Parsing it was the largest part of reading 1000 manifests in a no-op `status`.)
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "skip_components"
    )]
    pub components: Option<KeyComponents>,
    pub files: BTreeMap<String, FileRecord>,
    pub output: OutputDigest,
    /// Cost figures (wall time, samples/s, parameter count, realised NFE): never in a key.
    #[serde(default)]
    pub cost: serde_json::Map<String, serde_json::Value>,
    pub drift_version: String,
    pub host: String,
    pub created_unix: u64,
}

fn skip_components<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<KeyComponents>, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(None)
}

/// What was last recorded for an instance id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    /// The experiment (`experiment.name`) the id was run in.
    #[serde(default)]
    pub experiment: String,
    pub id: String,
    pub key: StageKey,
    pub components: KeyComponents,
}

/// The last failure of an instance id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub id: String,
    pub key: StageKey,
    pub error: String,
}

/// A staging directory for one entry; dropped without commit, it is removed.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    committed: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Opens (creating) the store under `dir/v1`.
    pub fn open(dir: &Path) -> Result<Cache, CacheError> {
        let root = dir.join(LAYOUT);
        for sub in ["entries", "tmp", "slots", "locks", "scratch"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn entry_dir(&self, key: &StageKey) -> PathBuf {
        let hex = key.hex();
        self.root.join("entries").join(&hex[..2]).join(hex)
    }

    /// The manifest of a complete entry, or None when there is none (or it is incomplete: a
    /// missing or unreadable manifest, or a listed file that is missing or has the wrong size).
    /// Checks sizes only (cheap enough for `drift status`); see [`Cache::check_entry`].
    pub fn lookup(&self, key: &StageKey) -> Option<Manifest> {
        match self.check_entry(key, false) {
            EntryCheck::Complete(m) => Some(*m),
            EntryCheck::Absent | EntryCheck::Damaged(_) => None,
        }
    }

    /// The state of `key`'s entry on disk: absent, complete, or damaged (naming the file and
    /// what is wrong). With `verify_content`, every file is hashed and compared with the
    /// manifest's digest, so a flipped byte is found too; without, only sizes are compared.
    pub fn check_entry(&self, key: &StageKey, verify_content: bool) -> EntryCheck {
        let manifest = match self.check_manifest(key) {
            EntryCheck::Complete(m) => m,
            other => return other,
        };
        let dir = self.entry_dir(key);
        let damaged = |file: &str, problem: String| {
            EntryCheck::Damaged(Damage {
                file: file.to_string(),
                problem,
            })
        };
        for (name, record) in &manifest.files {
            let path = dir.join(name);
            match fs::metadata(&path) {
                Err(_) => return damaged(name, "missing".into()),
                Ok(m) if m.len() != record.bytes => {
                    return damaged(
                        name,
                        format!("{} bytes, the manifest says {}", m.len(), record.bytes),
                    );
                }
                Ok(_) => {}
            }
        }
        if verify_content && let Some(d) = self.verify_content(key, &manifest) {
            return EntryCheck::Damaged(d);
        }
        EntryCheck::Complete(manifest)
    }

    /// The entry's manifest alone: absent (no entry directory), damaged (unreadable manifest,
    /// or one for another key), or complete as far as the manifest goes; the files are not
    /// looked at. For callers that check the files next ([`Cache::verify_content`]), so each
    /// file is opened once.
    pub fn check_manifest(&self, key: &StageKey) -> EntryCheck {
        let dir = self.entry_dir(key);
        let path = dir.join(MANIFEST);
        let damaged = |problem: String| {
            EntryCheck::Damaged(Damage {
                file: MANIFEST.to_string(),
                problem,
            })
        };
        match read_manifest(&path) {
            Ok(m) if m.key == *key => EntryCheck::Complete(Box::new(m)),
            Ok(m) => damaged(format!("records key {}", m.key.short())),
            // No manifest: no entry at all, or one whose manifest is gone.
            Err(CacheError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !dir.exists() =>
            {
                EntryCheck::Absent
            }
            Err(e) => damaged(e.to_string()),
        }
    }

    /// Hashes every file `manifest` lists in `key`'s entry and compares it with the recorded
    /// digest: the first mismatch, or None. For an entry whose manifest and sizes were already
    /// checked ([`Cache::check_entry`] without content), so that a caller checking many
    /// entries reads each manifest once.
    pub fn verify_content(&self, key: &StageKey, manifest: &Manifest) -> Option<Damage> {
        let dir = self.entry_dir(key);
        for (name, record) in &manifest.files {
            let problem = match hash_file_expecting(&dir.join(name), record.bytes) {
                Ok((_, bytes)) if bytes != record.bytes => {
                    format!("{bytes} bytes, the manifest says {}", record.bytes)
                }
                Ok((digest, _)) if digest == record.digest => continue,
                Ok(_) => "content differs from its recorded digest".to_string(),
                Err(CacheError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    "missing".to_string()
                }
                Err(e) => e.to_string(),
            };
            return Some(Damage {
                file: name.clone(),
                problem,
            });
        }
        None
    }

    /// Takes the exclusive lock of `key` for this process, waiting while another process (or
    /// worker) holds it. Held until the returned guard drops; released by the OS if the process
    /// dies. `Ok(None)` when the file system offers no locks (then concurrent processes may
    /// compute the same key twice; each commit stays atomic and identical keys hold identical
    /// results, so the cache stays consistent).
    pub fn lock_key(&self, key: &StageKey) -> Result<Option<KeyLock>, CacheError> {
        let path = self.root.join("locks").join(format!("{}.lock", key.hex()));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.lock() {
            Ok(()) => Ok(Some(KeyLock { _file: file })),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Where the computation of `key` keeps state that survives a killed run (created on
    /// demand by the computation; only the holder of the key's lock touches it).
    pub fn scratch_dir(&self, key: &StageKey) -> PathBuf {
        self.root.join("scratch").join(key.hex())
    }

    /// Removes `key`'s scratch state (after its entry committed).
    pub fn clear_scratch(&self, key: &StageKey) {
        let _ = fs::remove_dir_all(self.scratch_dir(key));
    }

    /// Whether an entry directory exists at all (complete or not): distinguishes
    /// "artifact missing" from "never run".
    pub fn has_entry_dir(&self, key: &StageKey) -> bool {
        self.entry_dir(key).exists()
    }

    /// A fresh staging directory for `key`.
    pub fn stage(&self, key: &StageKey) -> Result<Staging, CacheError> {
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .root
            .join("tmp")
            .join(format!("{}-{}-{n}", key.hex(), std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Staging {
            dir,
            committed: false,
        })
    }

    /// Hashes the staged files, writes the manifest and renames the directory into place.
    /// If a complete entry for the key already exists (another process committed it first), it
    /// wins and ours is discarded, unless `replace` is set (a forced rerun), in which case the
    /// old entry is moved out of `entries/` first.
    pub fn commit(
        &self,
        staging: Staging,
        id: &str,
        components: KeyComponents,
        cost: serde_json::Map<String, serde_json::Value>,
        replace: bool,
    ) -> Result<Manifest, CacheError> {
        let key = components.key();
        let mut files = BTreeMap::new();
        let mut names: Vec<String> = Vec::new();
        for entry in fs::read_dir(&staging.dir).map_err(io(&staging.dir))? {
            let entry = entry.map_err(io(&staging.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == MANIFEST {
                continue;
            }
            names.push(name);
        }
        names.sort();
        for name in names {
            let path = staging.dir.join(&name);
            let (digest, bytes) = hash_file(&path)?;
            files.insert(name, FileRecord { digest, bytes });
        }
        let output = output_digest(files.iter().map(|(n, r)| (n.as_str(), &r.digest)));
        let manifest = Manifest {
            format: 1,
            key,
            id: id.to_string(),
            components: Some(components),
            files,
            output,
            cost,
            drift_version: env!("CARGO_PKG_VERSION").to_string(),
            host: hostname(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let manifest_path = staging.dir.join(MANIFEST);
        write_file_synced(
            &manifest_path,
            serde_json::to_string_pretty(&manifest)
                .expect("manifest serialises")
                .as_bytes(),
        )?;
        self.rename_into_place(staging, manifest, replace)
    }

    /// The tail of [`Cache::commit`] and [`Cache::adopt`]: renames a staging directory whose
    /// `manifest.json` is written into `entries/`. If a complete entry for the key already
    /// exists (another process committed it first), it wins and ours is discarded, unless
    /// `replace` is set, in which case the old entry is moved out of `entries/` first.
    fn rename_into_place(
        &self,
        mut staging: Staging,
        manifest: Manifest,
        replace: bool,
    ) -> Result<Manifest, CacheError> {
        let key = manifest.key;
        let target = self.entry_dir(&key);
        let parent = target.parent().expect("entry dir has a parent");
        fs::create_dir_all(parent).map_err(io(parent))?;
        if target.exists() {
            match self.check_entry(&key, true) {
                // Another process committed the same key first: its entry is as good as ours.
                EntryCheck::Complete(existing) if !replace => return Ok(*existing),
                // A forced rerun, or a damaged or half-deleted leftover.
                _ => self.remove(&key)?,
            }
        }
        match fs::rename(&staging.dir, &target) {
            Ok(()) => {
                staging.committed = true;
                sync_dir(parent);
                Ok(manifest)
            }
            Err(_) if self.lookup(&key).is_some() => Ok(self.lookup(&key).expect("checked")),
            Err(e) => Err(CacheError::Io {
                path: target,
                source: e,
            }),
        }
    }

    /// Commits a staging directory under a manifest made elsewhere (an entry downloaded from a
    /// remote cache), keeping the manifest's bytes exactly. The staged files must be exactly the
    /// files the manifest lists, each with its recorded size and blake3 digest, and the
    /// manifest's output digest must be the one its files give; otherwise nothing is committed
    /// (the staging directory is removed) and the error names the file and the problem.
    /// The manifest is written and fsynced, and the directory renamed in as by
    /// [`Cache::commit`]: a complete entry already there wins.
    pub fn adopt(&self, staging: Staging, manifest_bytes: &[u8]) -> Result<Manifest, CacheError> {
        let manifest_path = staging.dir.join(MANIFEST);
        let refuse = |message: String| CacheError::Manifest {
            path: manifest_path.clone(),
            message,
        };
        let manifest: Manifest = serde_json::from_slice(manifest_bytes)
            .map_err(|e| refuse(format!("does not parse: {e}")))?;
        let staged_for = staging
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !staged_for.starts_with(&format!("{}-", manifest.key.hex())) {
            return Err(refuse(format!(
                "records key {}, but the staging directory {staged_for} is for another key",
                manifest.key.short()
            )));
        }
        for name in manifest.files.keys() {
            if !is_plain_file_name(name) {
                return Err(refuse(format!(
                    "file {name:?}: not a plain file name, refused"
                )));
            }
        }
        let output = output_digest(manifest.files.iter().map(|(n, r)| (n.as_str(), &r.digest)));
        if output != manifest.output {
            return Err(refuse(format!(
                "its output digest {} is not the one its files give ({})",
                manifest.output.short(),
                output.short()
            )));
        }
        let mut staged = std::collections::BTreeSet::new();
        for entry in fs::read_dir(&staging.dir).map_err(io(&staging.dir))? {
            let entry = entry.map_err(io(&staging.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == MANIFEST {
                continue;
            }
            let is_file = entry.file_type().map_err(io(&entry.path()))?.is_file();
            if !manifest.files.contains_key(&name) {
                return Err(refuse(format!(
                    "file {name}: staged but not listed in the manifest"
                )));
            }
            if !is_file {
                return Err(refuse(format!("file {name}: not a regular file")));
            }
            staged.insert(name);
        }
        for (name, record) in &manifest.files {
            if !staged.contains(name) {
                return Err(refuse(format!("file {name}: missing")));
            }
            let (digest, bytes) = hash_file(&staging.dir.join(name))?;
            if bytes != record.bytes {
                return Err(refuse(format!(
                    "file {name}: {bytes} bytes, the manifest says {}",
                    record.bytes
                )));
            }
            if digest != record.digest {
                return Err(refuse(format!(
                    "file {name}: blake3 {} differs from the manifest's digest {}",
                    digest.hex(),
                    record.digest.hex()
                )));
            }
        }
        write_file_synced(&manifest_path, manifest_bytes)?;
        self.rename_into_place(staging, manifest, false)
    }

    /// The exact bytes of the `manifest.json` of `key`'s complete entry (as found by
    /// [`Cache::check_entry`] without hashing): what a remote cache uploads, so that a pulled
    /// entry's manifest is byte-identical to the pushed one. An absent entry is an I/O
    /// not-found error; a damaged one a manifest error naming the file and the problem.
    pub fn manifest_bytes(&self, key: &StageKey) -> Result<Vec<u8>, CacheError> {
        let path = self.entry_dir(key).join(MANIFEST);
        match self.check_entry(key, false) {
            EntryCheck::Complete(_) => fs::read(&path).map_err(io(&path)),
            EntryCheck::Absent => Err(CacheError::Io {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no entry for key {}", key.hex()),
                ),
            }),
            EntryCheck::Damaged(d) => Err(CacheError::Manifest {
                path,
                message: format!("entry is damaged: {}: {}", d.file, d.problem),
            }),
        }
    }

    fn slot_path(&self, experiment: &str, id: &str) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(experiment.as_bytes());
        h.update(b"\0");
        h.update(id.as_bytes());
        let hex = h.finalize().to_hex();
        self.root.join("slots").join(format!("{}.json", &hex[..32]))
    }

    pub fn read_slot(&self, experiment: &str, id: &str) -> Option<Slot> {
        let text = fs::read_to_string(self.slot_path(experiment, id)).ok()?;
        let slot: Slot = serde_json::from_str(&text).ok()?;
        (slot.id == id).then_some(slot)
    }

    /// Records the key components of an instance id; a no-op when they are already recorded.
    pub fn write_slot(
        &self,
        experiment: &str,
        id: &str,
        components: &KeyComponents,
    ) -> Result<(), CacheError> {
        if self
            .read_slot(experiment, id)
            .is_some_and(|s| s.components == *components)
        {
            return Ok(());
        }
        let slot = Slot {
            experiment: experiment.to_string(),
            id: id.to_string(),
            key: components.key(),
            components: components.clone(),
        };
        let path = self.slot_path(experiment, id);
        // Slots only explain reruns, so they are renamed into place but not fsynced.
        write_renamed(
            &path,
            serde_json::to_string(&slot)
                .expect("slot serialises")
                .as_bytes(),
            false,
        )
    }

    /// Every recorded slot for an instance id, in any experiment (for `drift show ID`).
    pub fn slots_for(&self, id: &str) -> Result<Vec<Slot>, CacheError> {
        let dir = self.root.join("slots");
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().is_none_or(|e| e != "json")
                || path.to_string_lossy().ends_with(".failed.json")
            {
                continue;
            }
            if let Some(slot) = fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<Slot>(&t).ok())
                .filter(|s| s.id == id)
            {
                found.push(slot);
            }
        }
        found.sort_by(|a, b| a.experiment.cmp(&b.experiment));
        Ok(found)
    }

    fn failure_path(&self, experiment: &str, id: &str) -> PathBuf {
        self.slot_path(experiment, id).with_extension("failed.json")
    }

    /// Records that an instance failed under `key` (shown by `drift status` until it succeeds).
    pub fn write_failure(
        &self,
        experiment: &str,
        id: &str,
        key: &StageKey,
        error: &str,
    ) -> Result<(), CacheError> {
        let record = Failure {
            id: id.to_string(),
            key: *key,
            error: error.to_string(),
        };
        write_atomic(
            &self.failure_path(experiment, id),
            serde_json::to_string(&record)
                .expect("failure serialises")
                .as_bytes(),
        )
    }

    pub fn read_failure(&self, experiment: &str, id: &str) -> Option<Failure> {
        let text = fs::read_to_string(self.failure_path(experiment, id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn clear_failure(&self, experiment: &str, id: &str) {
        let _ = fs::remove_file(self.failure_path(experiment, id));
    }

    /// Every complete or incomplete entry key in the store.
    pub fn keys(&self) -> Result<Vec<StageKey>, CacheError> {
        let entries = self.root.join("entries");
        let mut keys = Vec::new();
        for shard in fs::read_dir(&entries).map_err(io(&entries))? {
            let shard = shard.map_err(io(&entries))?.path();
            if !shard.is_dir() {
                continue;
            }
            for e in fs::read_dir(&shard).map_err(io(&shard))? {
                let e = e.map_err(io(&shard))?;
                if let Some(k) = StageKey::from_hex(&e.file_name().to_string_lossy()) {
                    keys.push(k);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Size in bytes of an entry's directory.
    pub fn entry_size(&self, key: &StageKey) -> u64 {
        let dir = self.entry_dir(key);
        fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Leftovers of killed runs that no process is working on: staging directories under
    /// `tmp/` and scratch state under `scratch/` whose key's lock is free (a running
    /// computation holds its key's lock), except scratch state of keys in `keep` (a killed
    /// training's checkpoint that the next run will resume).
    pub fn leftovers(&self, keep: &std::collections::HashSet<StageKey>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let free = |hex: &str| -> bool {
            if StageKey::from_hex(hex).is_none() {
                return true; // not a key's directory at all
            }
            let path = self.root.join("locks").join(format!("{hex}.lock"));
            fs::File::open(&path).map_or(true, |f| f.try_lock().is_ok())
        };
        for (sub, keep_reachable) in [("tmp", false), ("scratch", true)] {
            let Ok(dir) = fs::read_dir(self.root.join(sub)) else {
                continue;
            };
            for entry in dir.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let hex = name
                    .strip_prefix("gc-")
                    .unwrap_or(&name)
                    .split('-')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let kept =
                    keep_reachable && StageKey::from_hex(&hex).is_some_and(|k| keep.contains(&k));
                if !kept && free(&hex) {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        out
    }

    /// Removes an entry: first renamed out of `entries/` so that no reader sees it half-deleted.
    pub fn remove(&self, key: &StageKey) -> Result<(), CacheError> {
        let dir = self.entry_dir(key);
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let trash =
            self.root
                .join("tmp")
                .join(format!("gc-{}-{}-{n}", key.hex(), std::process::id()));
        fs::rename(&dir, &trash).map_err(io(&dir))?;
        fs::remove_dir_all(&trash).map_err(io(&trash))
    }
}

/// Whether `name` can be an artifact file of an entry: one plain path component, not the
/// manifest's name.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name != MANIFEST
        && !name.contains(['/', '\\', '\0'])
}

pub fn read_manifest(path: &Path) -> Result<Manifest, CacheError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| CacheError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// blake3 of a file, streaming; large files are hashed with rayon.
pub fn hash_file(path: &Path) -> Result<(FileDigest, u64), CacheError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut hasher = blake3::Hasher::new();
    if len >= 1 << 24 {
        let mut buf = Vec::with_capacity(len as usize);
        file.read_to_end(&mut buf).map_err(io(path))?;
        hasher.update_rayon(&buf);
    } else {
        // One read into a buffer of the file's size: a fixed zeroed buffer per file cost more
        // than hashing the small artifacts of a no-op status (callgrind: 34% memset).
        let mut buf = Vec::with_capacity(len as usize + 1);
        file.read_to_end(&mut buf).map_err(io(path))?;
        hasher.update(&buf);
    }
    Ok((FileDigest(*hasher.finalize().as_bytes()), len))
}

/// [`hash_file`] of a file expected to hold `expected` bytes: small files are read with one
/// `read` into a buffer of that size plus one (open, read, read, close: no `statx` or `lseek`,
/// which `read_to_end` adds to find a size it is told here). The byte count returned is the
/// file's real size when it differs.
pub fn hash_file_expecting(path: &Path, expected: u64) -> Result<(FileDigest, u64), CacheError> {
    if expected >= 1 << 24 {
        return hash_file(path);
    }
    let mut file = fs::File::open(path).map_err(io(path))?;
    let mut buf = vec![0u8; expected as usize + 1];
    let mut filled = 0;
    loop {
        let n = file.read(&mut buf[filled..]).map_err(io(path))?;
        if n == 0 {
            break;
        }
        filled += n;
        if filled == buf.len() {
            // Longer than recorded: report its real size.
            let len = file.metadata().map_err(io(path))?.len();
            return Ok((FileDigest([0; 32]), len));
        }
    }
    Ok((
        FileDigest(*blake3::hash(&buf[..filled]).as_bytes()),
        filled as u64,
    ))
}

/// Writes a file through a temporary sibling and a rename, so readers see all or nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    write_renamed(path, bytes, true)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> Result<(), CacheError> {
    let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    if sync {
        write_file_synced(&tmp, bytes)?;
    } else {
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))
}

fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let mut f = fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_plan::key::KeyInput;

    #[test]
    fn hashing_with_an_expected_size_agrees_with_hashing_and_reports_real_sizes() {
        let dir = tempdir();
        fs::create_dir_all(&dir).unwrap();
        for len in [0usize, 1, 4095, 4096, 70_000] {
            let path = dir.join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            fs::write(&path, &bytes).unwrap();
            let (digest, n) = hash_file(&path).unwrap();
            assert_eq!(n, len as u64);
            assert_eq!(hash_file_expecting(&path, len as u64).unwrap(), (digest, n));
            // Recorded shorter or longer than the file: the real size comes back.
            if len > 0 {
                assert_eq!(
                    hash_file_expecting(&path, len as u64 - 1).unwrap().1,
                    len as u64
                );
            }
            assert_eq!(
                hash_file_expecting(&path, len as u64 + 5).unwrap().1,
                len as u64
            );
        }
        assert!(hash_file_expecting(&dir.join("missing"), 3).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    fn comps(x: u64) -> KeyComponents {
        KeyComponents {
            kind: "data".into(),
            version: 1,
            params: serde_json::json!({ "x": x }),
            experiment_seed: 0,
            device: None,
            dtype: None,
            inputs: Vec::<KeyInput>::new(),
        }
    }

    fn tempdir() -> PathBuf {
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("drift-cache-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn commit_then_lookup() {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let c = comps(1);
        let key = c.key();
        assert!(cache.lookup(&key).is_none());
        let staging = cache.stage(&key).unwrap();
        fs::write(staging.dir.join("a.bin"), b"hello").unwrap();
        let m = cache
            .commit(staging, "data.x", c, Default::default(), false)
            .unwrap();
        assert_eq!(m.files["a.bin"].bytes, 5);
        let again = cache.lookup(&key).unwrap();
        assert_eq!(again.output, m.output);
        assert_eq!(cache.keys().unwrap(), vec![key]);
        // No staging leftovers.
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let key = comps(2).key();
        {
            let staging = cache.stage(&key).unwrap();
            fs::write(staging.dir.join("half"), b"x").unwrap();
        }
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        assert!(cache.lookup(&key).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_file_is_not_fresh() {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let c = comps(3);
        let key = c.key();
        let staging = cache.stage(&key).unwrap();
        fs::write(staging.dir.join("a.bin"), b"hello").unwrap();
        cache
            .commit(staging, "data.x", c, Default::default(), false)
            .unwrap();
        fs::write(cache.entry_dir(&key).join("a.bin"), b"hel").unwrap();
        assert!(cache.lookup(&key).is_none());
        assert!(cache.has_entry_dir(&key));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn first_commit_wins_unless_replacing() {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let c = comps(5);
        let key = c.key();
        let commit = |bytes: &[u8], replace: bool| {
            let staging = cache.stage(&key).unwrap();
            fs::write(staging.dir.join("a.bin"), bytes).unwrap();
            cache
                .commit(staging, "data.x", c.clone(), Default::default(), replace)
                .unwrap()
        };
        let first = commit(b"first", false);
        assert_eq!(commit(b"second", false).output, first.output);
        let replaced = commit(b"third!", true);
        assert_ne!(replaced.output, first.output);
        assert_eq!(cache.lookup(&key).unwrap().output, replaced.output);
        assert_eq!(
            fs::read(cache.entry_dir(&key).join("a.bin")).unwrap(),
            b"third!"
        );
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// (file name, content) pairs.
    type Files = Vec<(String, Vec<u8>)>;

    /// An entry committed in one cache (its manifest bytes and files), to adopt in another.
    fn committed_elsewhere(x: u64) -> (StageKey, Vec<u8>, Files) {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let c = comps(x);
        let key = c.key();
        let staging = cache.stage(&key).unwrap();
        let files = vec![
            ("a.bin".to_string(), b"hello".to_vec()),
            ("b.parquet".to_string(), vec![7u8; 70_000]),
        ];
        for (name, bytes) in &files {
            fs::write(staging.dir.join(name), bytes).unwrap();
        }
        cache
            .commit(staging, "data.x", c, Default::default(), false)
            .unwrap();
        let manifest = cache.manifest_bytes(&key).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        (key, manifest, files)
    }

    fn assert_nothing_left(cache: &Cache, key: &StageKey) {
        assert!(cache.lookup(key).is_none());
        assert!(!cache.has_entry_dir(key));
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        let shards = fs::read_dir(cache.root().join("entries")).unwrap();
        for shard in shards {
            assert_eq!(fs::read_dir(shard.unwrap().path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn adopt_keeps_the_manifest_bytes_and_files() {
        let (key, manifest, files) = committed_elsewhere(6);
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let staging = cache.stage(&key).unwrap();
        for (name, bytes) in &files {
            fs::write(staging.dir.join(name), bytes).unwrap();
        }
        let m = cache.adopt(staging, &manifest).unwrap();
        assert_eq!(m.key, key);
        assert_eq!(cache.manifest_bytes(&key).unwrap(), manifest);
        assert!(matches!(
            cache.check_entry(&key, true),
            EntryCheck::Complete(_)
        ));
        for (name, bytes) in &files {
            assert_eq!(&fs::read(cache.entry_dir(&key).join(name)).unwrap(), bytes);
        }
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        // Adopting again while the entry is complete: the existing entry wins.
        let staging = cache.stage(&key).unwrap();
        for (name, bytes) in &files {
            fs::write(staging.dir.join(name), bytes).unwrap();
        }
        assert_eq!(cache.adopt(staging, &manifest).unwrap().output, m.output);
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adopt_refuses_a_wrong_digest_and_leaves_nothing() {
        let (key, manifest, files) = committed_elsewhere(7);
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let staging = cache.stage(&key).unwrap();
        for (name, bytes) in &files {
            let mut bytes = bytes.clone();
            if name == "b.parquet" {
                bytes[1234] ^= 1; // same size, other content
            }
            fs::write(staging.dir.join(name), bytes).unwrap();
        }
        let err = cache.adopt(staging, &manifest).unwrap_err().to_string();
        assert!(err.contains("b.parquet") && err.contains("digest"), "{err}");
        assert_nothing_left(&cache, &key);
        // A wrong size is named too.
        let staging = cache.stage(&key).unwrap();
        fs::write(staging.dir.join("a.bin"), b"hell").unwrap();
        fs::write(staging.dir.join("b.parquet"), &files[1].1).unwrap();
        let err = cache.adopt(staging, &manifest).unwrap_err().to_string();
        assert!(err.contains("a.bin") && err.contains("4 bytes"), "{err}");
        assert_nothing_left(&cache, &key);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adopt_refuses_extra_or_missing_files_and_foreign_manifests() {
        let (key, manifest, files) = committed_elsewhere(8);
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let stage_all = |extra: Option<&str>, skip: Option<&str>| {
            let staging = cache.stage(&key).unwrap();
            for (name, bytes) in &files {
                if Some(name.as_str()) != skip {
                    fs::write(staging.dir.join(name), bytes).unwrap();
                }
            }
            if let Some(extra) = extra {
                fs::write(staging.dir.join(extra), b"?").unwrap();
            }
            staging
        };
        let err = cache
            .adopt(stage_all(Some("stray.txt"), None), &manifest)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stray.txt") && err.contains("not listed"),
            "{err}"
        );
        assert_nothing_left(&cache, &key);
        let err = cache
            .adopt(stage_all(None, Some("a.bin")), &manifest)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.bin") && err.contains("missing"), "{err}");
        assert_nothing_left(&cache, &key);
        // Not a manifest; a manifest for another key's staging; a path outside the entry.
        let err = cache.adopt(stage_all(None, None), b"{").unwrap_err();
        assert!(err.to_string().contains("does not parse"), "{err}");
        let other = cache.stage(&comps(9).key()).unwrap();
        let err = cache.adopt(other, &manifest).unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
        let evil = String::from_utf8(manifest.clone())
            .unwrap()
            .replace("\"a.bin\"", "\"../a.bin\"");
        let err = cache
            .adopt(stage_all(None, None), evil.as_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("not a plain file name"), "{err}");
        assert_nothing_left(&cache, &key);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn slots_round_trip() {
        let dir = tempdir();
        let cache = Cache::open(&dir).unwrap();
        let c = comps(4);
        cache.write_slot("exp", "data.x", &c).unwrap();
        let s = cache.read_slot("exp", "data.x").unwrap();
        assert_eq!(s.key, c.key());
        assert!(cache.read_slot("exp", "data.y").is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
