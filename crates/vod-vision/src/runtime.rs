//! The one ONNX Runtime environment of the process, loaded from the shared library that
//! `ORT_DYLIB_PATH` names. A missing or wrong library is one clear error at start-up.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

/// The variable naming the ONNX Runtime shared library.
pub const DYLIB_VAR: &str = "ORT_DYLIB_PATH";

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "{DYLIB_VAR} is not set: it must name the ONNX Runtime 1.31 library (libonnxruntime.so.1.31.1)"
    )]
    NotSet,
    #[error("{DYLIB_VAR}={path}: the file does not exist")]
    Missing { path: PathBuf },
    #[error("{DYLIB_VAR}={path}: cannot load it as ONNX Runtime 1.31: {message}")]
    Load { path: PathBuf, message: String },
}

static ENVIRONMENT: OnceLock<Result<Environment, RuntimeError>> = OnceLock::new();

/// The process's ONNX Runtime environment, loaded on first use.
pub fn environment() -> Result<&'static Environment, RuntimeError> {
    ENVIRONMENT.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Environment, RuntimeError> {
    let path = PathBuf::from(std::env::var_os(DYLIB_VAR).ok_or(RuntimeError::NotSet)?);
    if !path.is_file() {
        return Err(RuntimeError::Missing { path });
    }
    let builder = ort::init_from(&path).map_err(|error| RuntimeError::Load {
        path: path.clone(),
        message: error.to_string(),
    })?;
    builder
        .with_name("vod")
        .build()
        .map_err(|error| RuntimeError::Load {
            path,
            message: error.to_string(),
        })
}
