//! Safetensors checkpoints of a [`Network`], written byte-deterministically.
//!
//! The file is written by hand rather than through candle so that its bytes depend only on
//! the parameter values: tensors sorted by name, all f32 little-endian, data laid out in name
//! order, header keys sorted (`__metadata__` first), no whitespace, header padded with spaces
//! to a multiple of 8 bytes. It is standard safetensors and loads in PyTorch / candle.
//! The metadata records the network configuration as JSON, and loading checks it against the
//! requested configuration, so a checkpoint cannot silently be read with the wrong shape.

use std::path::Path;

use serde_json::{Map, Value};

use crate::net::HostTensor;
use crate::{ComputeDevice, NetConfig, Network, NnError};

/// Value of the `format` metadata entry.
const FORMAT: &str = "drift-nn/network/v2";

fn metadata(cfg: &NetConfig) -> Vec<(&'static str, String)> {
    // Sorted by key.
    vec![
        (
            "config",
            serde_json::to_string(cfg).expect("a config serialises"),
        ),
        ("format", FORMAT.to_string()),
    ]
}

/// Serialises sorted `(name, shape, values)` into safetensors bytes.
pub(crate) fn to_bytes(tensors: &[HostTensor], meta: &[(&str, String)]) -> Vec<u8> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| tensors[a].0.cmp(&tensors[b].0));

    let mut header = Map::new();
    let mut m = Map::new();
    for (k, v) in meta {
        m.insert((*k).to_string(), Value::String(v.clone()));
    }
    header.insert("__metadata__".to_string(), Value::Object(m));
    let mut offset = 0usize;
    for &i in &order {
        let (name, shape, data) = &tensors[i];
        let end = offset + 4 * data.len();
        let mut info = Map::new();
        info.insert(
            "data_offsets".into(),
            Value::Array(vec![Value::from(offset), Value::from(end)]),
        );
        info.insert("dtype".into(), Value::String("F32".into()));
        info.insert(
            "shape".into(),
            Value::Array(shape.iter().map(|&d| Value::from(d)).collect()),
        );
        header.insert(name.clone(), Value::Object(info));
        offset = end;
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for &i in &order {
        for v in &tensors[i].2 {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Parses safetensors bytes into `(name, shape, f32 values)` plus the metadata map.
/// Only F32 tensors are accepted.
pub(crate) fn from_bytes(bytes: &[u8]) -> Result<(Vec<HostTensor>, Map<String, Value>), String> {
    let head: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("file is shorter than the 8-byte safetensors header length")?;
    let n = u64::from_le_bytes(head);
    let rest = &bytes[8..];
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= rest.len())
        .ok_or_else(|| format!("header length {n} exceeds the file size"))?;
    let (header, data) = rest.split_at(n);
    let header = std::str::from_utf8(header).map_err(|e| format!("header is not UTF-8: {e}"))?;
    let header: Value =
        serde_json::from_str(header).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let Value::Object(header) = header else {
        return Err("header is not a JSON object".into());
    };
    let mut meta = Map::new();
    let mut tensors = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            if let Value::Object(m) = info {
                meta = m;
                continue;
            }
            return Err("__metadata__ is not a JSON object".into());
        }
        let dtype = info.get("dtype").and_then(Value::as_str).unwrap_or("");
        if dtype != "F32" {
            return Err(format!(
                "tensor {name} has dtype `{dtype}`, only F32 is supported"
            ));
        }
        let as_usizes = |key: &str| -> Option<Vec<usize>> {
            info.get(key)?
                .as_array()?
                .iter()
                .map(|v| v.as_u64().and_then(|u| usize::try_from(u).ok()))
                .collect()
        };
        let shape = as_usizes("shape").ok_or_else(|| format!("tensor {name}: bad shape"))?;
        let offsets =
            as_usizes("data_offsets").ok_or_else(|| format!("tensor {name}: bad data_offsets"))?;
        let [begin, end] = offsets[..] else {
            return Err(format!("tensor {name}: data_offsets must have two entries"));
        };
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor {name}: shape overflows"))?;
        let slice = data
            .get(begin..end)
            .filter(|s| Some(s.len()) == count.checked_mul(4))
            .ok_or_else(|| {
                format!("tensor {name}: data_offsets [{begin}, {end}] do not fit shape {shape:?} and the file")
            })?;
        let values = slice
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push((name, shape, values));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, meta))
}

impl Network {
    /// Writes the parameters as a safetensors file with deterministic bytes (see module docs).
    pub fn save_safetensors(&self, path: &Path) -> Result<(), NnError> {
        let bytes = self.to_safetensors_bytes()?;
        std::fs::write(path, bytes).map_err(|source| NnError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The bytes [`Network::save_safetensors`] writes.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>, NnError> {
        let values = self.host_values()?;
        Ok(to_bytes(&values, &metadata(self.config())))
    }

    /// Reads a checkpoint written by [`Network::save_safetensors`] for the given
    /// configuration. Tensor names and shapes must match exactly, and the recorded
    /// configuration must equal `cfg`.
    pub fn load_safetensors(
        path: &Path,
        cfg: &NetConfig,
        device: &ComputeDevice,
    ) -> Result<Self, NnError> {
        cfg.validate()?;
        let bytes = std::fs::read(path).map_err(|source| NnError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| NnError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let (tensors, meta) = from_bytes(&bytes).map_err(bad)?;
        for (key, want) in metadata(cfg) {
            if let Some(found) = meta.get(key)
                && found.as_str() != Some(want.as_str())
            {
                return Err(bad(format!(
                    "was written for {key} = {found}, but {key} = {want} was requested"
                )));
            }
        }
        Network::from_host_values(cfg, tensors, device).map_err(|e| match e {
            NnError::InvalidInput(m) => bad(m),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bytes() {
        let t = vec![
            ("b".to_string(), vec![2], vec![1.0, -2.5]),
            (
                "a".to_string(),
                vec![1, 3],
                vec![0.5, f32::MIN_POSITIVE, 3.0],
            ),
        ];
        let bytes = to_bytes(&t, &[("k", "v".into())]);
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        let (back, meta) = from_bytes(&bytes).unwrap();
        assert_eq!(back[0], t[1]);
        assert_eq!(back[1], t[0]);
        assert_eq!(meta.get("k").and_then(Value::as_str), Some("v"));
        // The header is sorted and compact.
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        assert!(header.starts_with(r#"{"__metadata__":{"k":"v"},"a":{"data_offsets":[0,12]"#));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert!(from_bytes(&[]).is_err());
        assert!(from_bytes(&[255; 8]).is_err());
        let mut bytes = to_bytes(&[("a".to_string(), vec![2], vec![1.0, 2.0])], &[]);
        bytes.truncate(bytes.len() - 1);
        assert!(from_bytes(&bytes).is_err());
        let mut bad = 2u64.to_le_bytes().to_vec();
        bad.extend_from_slice(b"[]");
        assert!(from_bytes(&bad).is_err());
    }
}
