//! Image files: where a capture's images live under the images directory, and how they reach
//! the disk so that a crash leaves either the whole file or no file under its final name.
//!
//! Layout: `YYYY/MM/DD/<capture uuid>_<burst index>.jpg`, the date being the capture's detection
//! date (UTC). Files are written as `.<name>.tmp` beside their final name, synced, renamed into
//! place, and then the directory is synced so that the rename itself is durable.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::StoreError;

/// The folder under the data directory that holds the image files.
pub(crate) const IMAGES_DIR: &str = "images";

/// One image to write: its burst index and JPEG bytes.
#[derive(Debug)]
pub(crate) struct ImageToWrite {
    pub(crate) burst_index: u32,
    pub(crate) jpeg: Vec<u8>,
}

/// An image file now durable under its final name.
#[derive(Debug)]
pub(crate) struct WrittenImage {
    /// Relative to the images directory, with `/` separators.
    pub(crate) relative_path: String,
    pub(crate) sha256_hex: String,
}

/// Writes a capture's images durably, blocking; on error, removes what it wrote.
pub(crate) fn write_capture_images(
    images_dir: &Path,
    detected_utc: DateTime<Utc>,
    capture_uuid: Uuid,
    images: &[ImageToWrite],
) -> Result<Vec<WrittenImage>, StoreError> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let day = detected_utc.format("%Y/%m/%d").to_string();
    let dir = create_dir_durable(images_dir, Path::new(&day))?;
    let mut written = Vec::with_capacity(images.len());
    for image in images {
        let file_name = format!("{capture_uuid}_{}.jpg", image.burst_index);
        if let Err(error) = write_file_atomically(&dir, &file_name, &image.jpeg) {
            remove_images(images_dir, &written);
            return Err(error);
        }
        written.push(WrittenImage {
            relative_path: format!("{day}/{file_name}"),
            sha256_hex: format!("{:x}", Sha256::digest(&image.jpeg)),
        });
    }
    if let Err(error) = sync_dir(&dir) {
        remove_images(images_dir, &written);
        return Err(error);
    }
    Ok(written)
}

/// Removes image files that will not be referenced by any row; best effort, since the caller is
/// already returning an error of its own. An orphan file takes space but loses no data.
pub(crate) fn remove_images(images_dir: &Path, written: &[WrittenImage]) {
    for image in written {
        let path = images_dir.join(&image.relative_path);
        if let Err(error) = fs::remove_file(&path)
            && error.kind() != ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "Could not remove an orphan image file.");
        }
    }
}

/// Removes files that no row references any more; returns how many were removed. A file
/// already gone counts as removed; one that cannot be removed is logged and left for the
/// start-up check.
pub(crate) fn remove_files(paths: &[PathBuf]) -> u64 {
    let mut removed = 0;
    for path in paths {
        match fs::remove_file(path) {
            Ok(()) => removed += 1,
            Err(error) if error.kind() == ErrorKind::NotFound => removed += 1,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "Could not remove an expired image file.");
            }
        }
    }
    removed
}

/// Creates each missing directory of `relative_dir` under `base`, syncing its parent so that the
/// new directory entry survives a power cut.
pub(crate) fn create_dir_durable(base: &Path, relative_dir: &Path) -> Result<PathBuf, StoreError> {
    let mut dir = base.to_path_buf();
    for component in relative_dir.components() {
        let parent = dir.clone();
        dir.push(component);
        match fs::create_dir(&dir) {
            Ok(()) => sync_dir(&parent)?,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => return Err(StoreError::io("creating directory", &dir)(error)),
        }
    }
    Ok(dir)
}

/// Resolves `relative` inside `images_dir`, refusing anything that could name a file outside it:
/// absolute paths, `..`, `.` and empty paths.
pub(crate) fn resolve(images_dir: &Path, relative: &str) -> Option<PathBuf> {
    let relative = Path::new(relative);
    let mut components = relative.components().peekable();
    components.peek()?;
    if components.all(|component| matches!(component, Component::Normal(_))) {
        Some(images_dir.join(relative))
    } else {
        None
    }
}

fn write_file_atomically(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temp_path = dir.join(format!(".{file_name}.tmp"));
    let final_path = dir.join(file_name);
    let result = write_and_sync(&temp_path, bytes).and_then(|()| {
        fs::rename(&temp_path, &final_path).map_err(StoreError::io(
            "renaming into place the image file",
            &final_path,
        ))
    });
    if result.is_err()
        && let Err(error) = fs::remove_file(&temp_path)
        && error.kind() != ErrorKind::NotFound
    {
        tracing::warn!(%error, path = %temp_path.display(), "Could not remove a temporary image file.");
    }
    result
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    // create_new: a leftover temporary file of the same name would mean two writers of one capture.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(StoreError::io("creating the temporary image file", path))?;
    file.write_all(bytes)
        .map_err(StoreError::io("writing the temporary image file", path))?;
    file.sync_all()
        .map_err(StoreError::io("syncing the temporary image file", path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(StoreError::io("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_keeps_paths_inside_the_images_dir() {
        let images = Path::new("/data/images");
        assert_eq!(
            resolve(images, "2026/11/21/a_0.jpg"),
            Some(PathBuf::from("/data/images/2026/11/21/a_0.jpg"))
        );
        for escaping in [
            "",
            "/etc/passwd",
            "..",
            "../vod.db",
            "2026/../../vod.db",
            "./a.jpg",
        ] {
            assert_eq!(resolve(images, escaping), None, "{escaping:?}");
        }
    }
}
