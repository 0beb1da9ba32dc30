//! Typed digests and the canonical encoding that stage keys hash. Keys never see names, paths,
//! mtimes or timings: only the stage kind and version, completed semantic parameters, the root
//! seed, the inputs' output digests and (for train/sample) device class and dtype.

use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use std::fmt;

macro_rules! digest_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn hex(&self) -> String {
                blake3::Hash::from(self.0).to_hex().to_string()
            }
            /// The first 12 hex digits, for display.
            pub fn short(&self) -> String {
                self.hex()[..12].to_string()
            }
            pub fn from_hex(s: &str) -> Option<Self> {
                blake3::Hash::from_hex(s).ok().map(|h| $name(*h.as_bytes()))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.hex())
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.hex())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid digest"))
            }
        }
    };
}

digest_type!(
    /// What a stage instance's cache entry is stored under.
    StageKey
);
digest_type!(
    /// The digest of everything a stage instance wrote (its files' names and digests).
    OutputDigest
);
digest_type!(
    /// The blake3 digest of one artifact file.
    FileDigest
);

/// Every component of a key, kept as data so that a changed key can be explained field by field
/// (cargo's fingerprint sidecar). Stored in each manifest and slot record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyComponents {
    pub kind: String,
    pub version: u32,
    pub params: J,
    pub experiment_seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// (role, upstream instance id at the time, its output digest), in role order.
    pub inputs: Vec<KeyInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInput {
    pub role: String,
    /// Informational only (not hashed): the upstream instance's id when the key was made.
    pub id: String,
    pub digest: OutputDigest,
}

impl KeyComponents {
    pub fn key(&self) -> StageKey {
        let inputs: Vec<(&str, OutputDigest)> = self
            .inputs
            .iter()
            .map(|i| (i.role.as_str(), i.digest))
            .collect();
        stage_key(&KeyParts {
            kind: &self.kind,
            version: self.version,
            params_canonical: &canonical_json(&self.params),
            experiment_seed: self.experiment_seed,
            device: self.device.as_deref(),
            dtype: self.dtype.as_deref(),
            inputs: &inputs,
        })
    }
}

/// The parts a key hashes, borrowed, with the parameters already in canonical JSON: lets a
/// caller that holds them (a planned instance) compute a key without building
/// [`KeyComponents`].
pub struct KeyParts<'a> {
    pub kind: &'a str,
    pub version: u32,
    pub params_canonical: &'a str,
    pub experiment_seed: u64,
    pub device: Option<&'a str>,
    pub dtype: Option<&'a str>,
    /// (role, output digest) per input, in input order.
    pub inputs: &'a [(&'a str, OutputDigest)],
}

/// The key of `parts`: the one definition of the key encoding.
pub fn stage_key(parts: &KeyParts<'_>) -> StageKey {
    let mut h = blake3::Hasher::new();
    h.update(b"drift-stage-key\0v1\0");
    field(&mut h, "kind", parts.kind.as_bytes());
    field(&mut h, "version", &parts.version.to_le_bytes());
    field(&mut h, "params", parts.params_canonical.as_bytes());
    field(
        &mut h,
        "experiment_seed",
        &parts.experiment_seed.to_le_bytes(),
    );
    field(&mut h, "device", parts.device.unwrap_or("").as_bytes());
    field(&mut h, "dtype", parts.dtype.unwrap_or("").as_bytes());
    field(&mut h, "inputs", &(parts.inputs.len() as u64).to_le_bytes());
    for (role, digest) in parts.inputs {
        field(&mut h, role, &digest.0);
    }
    StageKey(*h.finalize().as_bytes())
}

/// Length-prefixed so that no two different component lists encode the same bytes.
fn field(h: &mut blake3::Hasher, name: &str, bytes: &[u8]) {
    h.update(&(name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// JSON with object keys sorted and no whitespace. Numbers are written by serde_json, which
/// prints the shortest representation that round-trips, so `1e-3` and `0.001` agree; typed
/// parameters make `1` and `1.0` agree too (a float field is always a float).
pub fn canonical_json(v: &J) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &J, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        J::Object(map) => {
            let mut entries: Vec<(&String, &J)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        J::String(text) => write_json_string(text, out),
        // serde_json's compact form, written in place (no temporary string).
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// `text` as a JSON string, byte for byte as serde_json writes it: quoted as is when nothing
/// needs escaping (the common case for parameter names and values), else through serde_json.
fn write_json_string(text: &str, out: &mut String) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&J::String(text.to_string()).to_string());
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// The digest of a set of named files: sorted (name, digest) pairs.
pub fn output_digest<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a FileDigest)>,
) -> OutputDigest {
    let mut files: Vec<(&str, &FileDigest)> = files.into_iter().collect();
    files.sort();
    let mut h = blake3::Hasher::new();
    h.update(b"drift-output\0v1\0");
    for (name, digest) in files {
        field(&mut h, name, &digest.0);
    }
    OutputDigest(*h.finalize().as_bytes())
}

/// A seed for one random stream of a stage instance, from the root seed, the stage kind, the
/// stage's own seed and a stream name. Names of stages never enter.
pub fn derive_seed(experiment_seed: u64, kind: &str, stage_seed: u64, stream: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"drift-seed\0");
    field(&mut h, "experiment", &experiment_seed.to_le_bytes());
    field(&mut h, "kind", kind.as_bytes());
    field(&mut h, "stage", &stage_seed.to_le_bytes());
    field(&mut h, "stream", stream.as_bytes());
    let bytes = h.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn comps(params: J) -> KeyComponents {
        KeyComponents {
            kind: "train".into(),
            version: 1,
            params,
            experiment_seed: 0,
            device: Some("cpu".into()),
            dtype: Some("f32".into()),
            inputs: vec![],
        }
    }

    #[test]
    fn key_ignores_object_order_and_number_spelling() {
        let a: J = serde_json::from_str(r#"{"lr": 1e-3, "steps": 10}"#).unwrap();
        let b: J = serde_json::from_str(r#"{"steps": 10, "lr": 0.001}"#).unwrap();
        assert_eq!(comps(a).key(), comps(b).key());
    }

    #[test]
    fn key_changes_with_every_component() {
        let base = comps(json!({"lr": 0.001}));
        let k = base.key();
        let mut c = base.clone();
        c.params = json!({"lr": 0.002});
        assert_ne!(c.key(), k);
        let mut c = base.clone();
        c.version = 2;
        assert_ne!(c.key(), k);
        let mut c = base.clone();
        c.experiment_seed = 1;
        assert_ne!(c.key(), k);
        let mut c = base.clone();
        c.device = Some("cuda".into());
        assert_ne!(c.key(), k);
        let mut c = base.clone();
        c.inputs.push(KeyInput {
            role: "data".into(),
            id: "x".into(),
            digest: OutputDigest([1; 32]),
        });
        assert_ne!(c.key(), k);
        // The informational id does not enter the key.
        let mut d = c.clone();
        d.inputs[0].id = "renamed".into();
        assert_eq!(d.key(), c.key());
    }

    #[test]
    fn canonical_json_is_serde_jsons_compact_form_with_sorted_keys() {
        // The fast string path must write exactly what serde_json writes (keys depend on it).
        let v = json!({
            "z": ["plain", "quote\"d", "back\\slash", "tab\tnew\nline", "\u{1}ctl", "ünï ✓", "\u{7f}"],
            "a": {"n": -0.0, "big": 1e300, "small": 5e-324, "int": -7, "t": true, "f": null},
            "m\"k": 1,
        });
        let mut sorted = serde_json::Map::new();
        let mut pairs: Vec<(String, J)> = v.as_object().unwrap().clone().into_iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, x) in pairs {
            let x = match x {
                J::Object(o) => {
                    let mut inner: Vec<(String, J)> = o.into_iter().collect();
                    inner.sort_by(|a, b| a.0.cmp(&b.0));
                    J::Object(inner.into_iter().collect())
                }
                other => other,
            };
            sorted.insert(k, x);
        }
        assert_eq!(
            canonical_json(&v),
            serde_json::to_string(&J::Object(sorted)).unwrap()
        );
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let k = comps(json!({})).key();
        assert_eq!(StageKey::from_hex(&k.hex()), Some(k));
    }

    #[test]
    fn seeds_differ_by_stream() {
        assert_ne!(
            derive_seed(0, "data", 0, "train"),
            derive_seed(0, "data", 0, "test")
        );
        assert_eq!(
            derive_seed(3, "data", 1, "x"),
            derive_seed(3, "data", 1, "x")
        );
    }
}
