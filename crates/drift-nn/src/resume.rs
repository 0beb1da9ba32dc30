//! Training state for resuming a killed training: what a checkpoint holds (weights, AdamW
//! moments and step, EMA weights, the losses so far) and its byte format.
//!
//! Format (all little-endian): the magic `DRIFTRS1`, a `u32` header length, a JSON header
//! (`step`, `adam_t`, the length of every tensor, whether EMA is present, the number of
//! losses), then the raw `f32` values of the parameters, the first and second moments, the EMA
//! parameters (when present) and the losses, in that order. Deterministic: the same state
//! always gives the same bytes.

use serde::{Deserialize, Serialize};

use crate::NnError;

const MAGIC: &[u8; 8] = b"DRIFTRS1";

/// Everything needed to continue a training bit-identically after step `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Optimiser steps completed.
    pub step: usize,
    /// Parameters, weight then bias of each layer in forward order.
    pub params: Vec<Vec<f32>>,
    /// AdamW first and second moments, in the order of `params`.
    pub adam_m: Vec<Vec<f32>>,
    pub adam_v: Vec<Vec<f32>>,
    /// AdamW's step counter (its bias corrections).
    pub adam_t: i32,
    /// The EMA parameters, when EMA is on.
    pub ema: Option<Vec<Vec<f32>>>,
    /// The loss of every completed step.
    pub losses: Vec<f32>,
}

/// Periodic checkpoints of a training and the state to resume from.
pub struct Checkpoints<'a> {
    /// Save after every `every` steps (not after the last one).
    pub every: usize,
    /// Continue from this state instead of starting at step 0.
    pub resume: Option<TrainState>,
    /// Called with the state after each checkpointed step.
    pub save: &'a mut dyn FnMut(&TrainState) -> Result<(), NnError>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    step: usize,
    adam_t: i32,
    lengths: Vec<usize>,
    ema: bool,
    losses: usize,
}

impl TrainState {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            step: self.step,
            adam_t: self.adam_t,
            lengths: self.params.iter().map(Vec::len).collect(),
            ema: self.ema.is_some(),
            losses: self.losses.len(),
        };
        let header = serde_json::to_vec(&header).expect("header serialises");
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        let mut put = |values: &[f32]| {
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        };
        for group in [&self.params, &self.adam_m, &self.adam_v] {
            group.iter().for_each(|t| put(t));
        }
        if let Some(ema) = &self.ema {
            ema.iter().for_each(|t| put(t));
        }
        put(&self.losses);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TrainState, NnError> {
        let bad = |what: &str| NnError::InvalidInput(format!("not a training checkpoint: {what}"));
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(bad("wrong magic"));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let header: Header = bytes
            .get(12..12 + len)
            .and_then(|h| serde_json::from_slice(h).ok())
            .ok_or_else(|| bad("unreadable header"))?;
        let mut body = bytes[12 + len..].chunks_exact(4);
        if !body.remainder().is_empty() {
            return Err(bad("ragged body"));
        }
        let mut take = |n: usize| -> Result<Vec<f32>, NnError> {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let b = body.next().ok_or_else(|| bad("cut short"))?;
                v.push(f32::from_le_bytes(b.try_into().expect("4 bytes")));
            }
            Ok(v)
        };
        let group = |take: &mut dyn FnMut(usize) -> Result<Vec<f32>, NnError>| {
            header
                .lengths
                .iter()
                .map(|&n| take(n))
                .collect::<Result<Vec<_>, _>>()
        };
        let params = group(&mut take)?;
        let adam_m = group(&mut take)?;
        let adam_v = group(&mut take)?;
        let ema = if header.ema {
            Some(group(&mut take)?)
        } else {
            None
        };
        let losses = take(header.losses)?;
        if body.next().is_some() {
            return Err(bad("trailing bytes"));
        }
        Ok(TrainState {
            step: header.step,
            params,
            adam_m,
            adam_v,
            adam_t: header.adam_t,
            ema,
            losses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_damage_is_an_error() {
        let state = TrainState {
            step: 7,
            params: vec![vec![1.0, -2.5], vec![3.0]],
            adam_m: vec![vec![0.1, 0.2], vec![0.3]],
            adam_v: vec![vec![0.01, 0.02], vec![0.03]],
            adam_t: 7,
            ema: Some(vec![vec![0.9, -2.0], vec![2.5]]),
            losses: vec![4.0, 3.0, 2.0, 1.5, 1.2, 1.1, 1.0],
        };
        let bytes = state.to_bytes();
        assert_eq!(TrainState::from_bytes(&bytes).unwrap(), state);
        assert!(TrainState::from_bytes(&bytes[..bytes.len() - 4]).is_err());
        assert!(TrainState::from_bytes(b"DRIFTRS0").is_err());
        let no_ema = TrainState { ema: None, ..state };
        assert_eq!(TrainState::from_bytes(&no_ema.to_bytes()).unwrap(), no_ema);
    }
}
