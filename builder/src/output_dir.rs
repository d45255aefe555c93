//! The output directory: a build's results appear there complete or not at all, and mpr replaces
//! only a directory it made itself (recognised by a marker file): an existing `--out` that is not an
//! mpr output (`~`, `.`, a project) is refused, never renamed or deleted.

use std::path::{Path, PathBuf};

/// The file that marks a directory as an mpr build output.
pub const MARKER: &str = ".mpr-build-output";

const MARKER_TEXT: &str =
    "This directory is the output of `mpr build`; a later build with the same --out replaces it.\n";

#[derive(Debug, thiserror::Error)]
pub enum OutputDirError {
    #[error("--out {0} exists and is not an mpr build output (it has no {MARKER} file): mpr replaces only directories it made; give a new path, or empty and remove it yourself")]
    NotOurs(PathBuf),
    #[error("--out {0} is a symbolic link; give the directory it points to, or a new path")]
    Symlink(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OutputDirError {
    let context = context.into();
    move |source| OutputDirError::Io { context, source }
}

/// Checks, before any work, that `out_dir` is absent or a previous mpr output.
pub fn check_replaceable(out_dir: &Path) -> Result<(), OutputDirError> {
    let meta = match std::fs::symlink_metadata(out_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(io(format!("inspecting {}", out_dir.display())))?,
    };
    if meta.file_type().is_symlink() {
        return Err(OutputDirError::Symlink(out_dir.to_owned()));
    }
    if !meta.is_dir() || !out_dir.join(MARKER).is_file() {
        return Err(OutputDirError::NotOurs(out_dir.to_owned()));
    }
    Ok(())
}

/// Marks a finished result directory as mpr's.
pub fn mark(result: &Path) -> Result<(), OutputDirError> {
    let marker = result.join(MARKER);
    std::fs::write(&marker, MARKER_TEXT).map_err(io(format!("writing {}", marker.display())))
}

/// Moves the complete `result` to `out_dir`. A previous output there is moved aside first, put
/// back if the new one cannot be moved into place, and deleted only once the new one is there.
pub fn publish(result: &Path, out_dir: &Path) -> Result<(), OutputDirError> {
    check_replaceable(out_dir)?;
    let aside = out_dir.with_file_name(format!(
        ".{}.previous-{}",
        out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = out_dir.exists();
    if had_old {
        std::fs::rename(out_dir, &aside).map_err(io(format!(
            "moving the previous {} aside",
            out_dir.display()
        )))?;
    }
    if let Err(e) = std::fs::rename(result, out_dir) {
        let mut context = format!("moving the result to {}", out_dir.display());
        if had_old {
            match std::fs::rename(&aside, out_dir) {
                Ok(()) => context.push_str(" (the previous output was restored)"),
                Err(restore) => context.push_str(&format!(
                    " (the previous output could not be restored: {restore}; it is at {})",
                    aside.display()
                )),
            }
        }
        return Err(io(context)(e));
    }
    if had_old {
        std::fs::remove_dir_all(&aside).map_err(io(format!("removing {}", aside.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_dir(parent: &Path, content: &str) -> PathBuf {
        let result = parent.join(format!(".staging-{content}"));
        std::fs::create_dir(&result).unwrap();
        std::fs::write(result.join("build-record.json"), content).unwrap();
        mark(&result).unwrap();
        result
    }

    #[test]
    fn a_directory_mpr_did_not_make_is_never_replaced() {
        let parent = tempfile::tempdir().unwrap();
        let foreign = parent.path().join("home");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("precious"), "keep me").unwrap();
        let result = result_dir(parent.path(), "new");
        let err = publish(&result, &foreign).unwrap_err();
        assert!(matches!(err, OutputDirError::NotOurs(_)), "{err}");
        assert!(err.to_string().contains(MARKER), "{err}");
        assert_eq!(
            std::fs::read_to_string(foreign.join("precious")).unwrap(),
            "keep me"
        );
        // An empty directory and a plain file are not ours either.
        let empty = parent.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            check_replaceable(&empty),
            Err(OutputDirError::NotOurs(_))
        ));
        assert!(empty.is_dir());
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&foreign, &link).unwrap();
        assert!(matches!(
            check_replaceable(&link),
            Err(OutputDirError::Symlink(_))
        ));
    }

    #[test]
    fn a_previous_output_is_replaced() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        publish(&result_dir(parent.path(), "first"), &out).unwrap();
        publish(&result_dir(parent.path(), "second"), &out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("build-record.json")).unwrap(),
            "second"
        );
        let left: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["out"], "nothing is left aside");
    }

    #[test]
    fn the_previous_output_is_restored_when_the_new_one_cannot_move_in() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        publish(&result_dir(parent.path(), "first"), &out).unwrap();
        // A result that vanished (e.g. removed by a cleaner) cannot be moved into place.
        let gone = parent.path().join(".staging-gone");
        let err = publish(&gone, &out).unwrap_err();
        assert!(err.to_string().contains("was restored"), "{err}");
        assert_eq!(
            std::fs::read_to_string(out.join("build-record.json")).unwrap(),
            "first"
        );
        assert!(out.join(MARKER).is_file());
    }
}
