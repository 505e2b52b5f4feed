//! The one ONNX Runtime environment of the process, loaded from a shared library: the one
//! `ORT_DYLIB_PATH` names, else the first of [`places`] that holds it (where the image
//! and the systemd unit install it, and where `scripts/setup.sh` puts it for a build in the
//! project's `target/`). A missing or wrong library is one clear error at start-up.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// The variable naming the ONNX Runtime shared library.
pub const DYLIB_VAR: &str = "ORT_DYLIB_PATH";

/// The library's file name.
pub const LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// The folder the image and the systemd unit install the library in.
pub const SYSTEM_DIR: &str = "/usr/local/lib/onnxruntime";

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime 1.31 library ({LIBRARY}) is in none of {looked:?}: install it there or name it in {DYLIB_VAR}"
    )]
    NotFound { looked: Vec<PathBuf> },
    #[error("{DYLIB_VAR}={path}: the file does not exist")]
    Missing { path: PathBuf },
    #[error("{path}: cannot load it as ONNX Runtime 1.31: {message}")]
    Load { path: PathBuf, message: String },
}

static ENVIRONMENT: OnceLock<Result<Environment, RuntimeError>> = OnceLock::new();

/// The process's ONNX Runtime environment, loaded on first use.
pub fn environment() -> Result<&'static Environment, RuntimeError> {
    ENVIRONMENT.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// The files the library is looked for in without `ORT_DYLIB_PATH`, in order: in
/// [`SYSTEM_DIR`], beside the binary in `exe_dir`, and in the project's `.tools/onnxruntime`
/// seen from `target/<profile>/vod` (the last two left out when `exe_dir` is unknown).
pub fn places(exe_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(SYSTEM_DIR)];
    if let Some(dir) = exe_dir {
        dirs.push(dir.to_owned());
        dirs.push(dir.join("../../.tools/onnxruntime"));
    }
    dirs.into_iter().map(|dir| dir.join(LIBRARY)).collect()
}

/// The library to load: `named` (the variable's value) when given, else the first of
/// `places` that exists.
pub fn library_path(named: Option<PathBuf>, places: &[PathBuf]) -> Result<PathBuf, RuntimeError> {
    match named {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(RuntimeError::Missing { path }),
        None => places
            .iter()
            .find(|path| path.is_file())
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound {
                looked: places.to_vec(),
            }),
    }
}

fn load() -> Result<Environment, RuntimeError> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    let path = library_path(
        std::env::var_os(DYLIB_VAR).map(PathBuf::from),
        &places(exe_dir),
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_and_else_the_first_place_that_holds_the_library() {
        let root = tempfile::tempdir().unwrap();
        let exe_dir = root.path().join("target/release");
        let tools = root.path().join(".tools/onnxruntime");
        std::fs::create_dir_all(&exe_dir).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        let all = places(Some(&exe_dir));
        assert_eq!(
            all[0],
            Path::new("/usr/local/lib/onnxruntime").join(LIBRARY)
        );
        assert_eq!(all[1], exe_dir.join(LIBRARY));
        assert_eq!(
            all[2].canonicalize().ok(),
            None,
            "not there yet: {:?}",
            all[2]
        );
        assert_eq!(places(None).len(), 1);
        // Without the system folder, which this machine may have.
        let local = &all[1..];
        assert!(matches!(
            library_path(None, local),
            Err(RuntimeError::NotFound { looked }) if looked == local
        ));
        std::fs::write(tools.join(LIBRARY), b"").unwrap();
        assert_eq!(
            library_path(None, local).unwrap().canonicalize().unwrap(),
            tools.join(LIBRARY).canonicalize().unwrap()
        );
        std::fs::write(exe_dir.join(LIBRARY), b"").unwrap();
        assert_eq!(library_path(None, local).unwrap(), exe_dir.join(LIBRARY));

        let named = root.path().join("elsewhere.so");
        assert!(matches!(
            library_path(Some(named.clone()), local),
            Err(RuntimeError::Missing { .. })
        ));
        std::fs::write(&named, b"").unwrap();
        assert_eq!(library_path(Some(named.clone()), local).unwrap(), named);
    }
}
