//! Device selection: parsing `cpu` / `cuda[:N]` / `auto` and opening the candle device.

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, DeviceLocation};

use crate::NnError;

/// Which device a stage asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceRequest {
    /// The host CPU.
    Cpu,
    /// The CUDA GPU with this ordinal (`cuda` alone means `cuda:0`).
    Cuda(usize),
    /// `cuda:0` if this build has CUDA support and the GPU opens, else the CPU.
    Auto,
}

impl DeviceRequest {
    /// The accepted spellings, for help texts.
    pub const VALID_FORMS: &'static str = "`cpu`, `cuda`, `cuda:N` (N = GPU index), `auto`";
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceRequest::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for DeviceRequest {
    type Err = NnError;

    /// Parses `cpu`, `cuda` (= `cuda:0`), `cuda:N` or `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || NnError::ParseDevice {
            input: s.to_string(),
        };
        match s {
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" => Ok(DeviceRequest::Cuda(0)),
            "auto" => Ok(DeviceRequest::Auto),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(err)?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                n.parse::<usize>()
                    .map(DeviceRequest::Cuda)
                    .map_err(|_| err())
            }
        }
    }
}

/// An opened compute device. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    device: Device,
}

impl ComputeDevice {
    /// The CPU device (never fails).
    pub fn cpu() -> Self {
        ComputeDevice {
            device: Device::Cpu,
        }
    }

    /// Opens the requested device. Asking for CUDA in a build without the `cuda` feature is
    /// [`NnError::CudaNotBuilt`], never a silent fallback to the CPU; only `auto` falls back.
    pub fn resolve(req: DeviceRequest) -> Result<Self, NnError> {
        match req {
            DeviceRequest::Cpu => Ok(Self::cpu()),
            DeviceRequest::Cuda(ordinal) => {
                if !Self::cuda_built() {
                    return Err(NnError::CudaNotBuilt {
                        requested: req.to_string(),
                    });
                }
                let device = Device::new_cuda(ordinal).map_err(|e| NnError::Device {
                    requested: req.to_string(),
                    message: crate::error::backend_message(&e),
                })?;
                Ok(ComputeDevice { device })
            }
            DeviceRequest::Auto => {
                if Self::cuda_built()
                    && let Ok(device) = Device::new_cuda(0)
                {
                    return Ok(ComputeDevice { device });
                }
                Ok(Self::cpu())
            }
        }
    }

    /// `"cpu"` or `"cuda"`.
    pub fn class(&self) -> &'static str {
        if self.device.is_cuda() { "cuda" } else { "cpu" }
    }

    /// `"cpu"` or `"cuda:N"`.
    pub fn label(&self) -> String {
        match self.device.location() {
            DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            DeviceLocation::Cpu => "cpu".to_string(),
            DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
        }
    }

    /// Whether this binary was built with the `cuda` feature.
    pub fn cuda_built() -> bool {
        cfg!(feature = "cuda")
    }

    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    pub(crate) fn same_as(&self, other: &ComputeDevice) -> bool {
        self.device.same_device(&other.device)
    }
}

impl Default for ComputeDevice {
    fn default() -> Self {
        Self::cpu()
    }
}

impl PartialEq for ComputeDevice {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}
