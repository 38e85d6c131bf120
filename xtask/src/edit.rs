//! File changes that either all happen or none does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A set of file changes, undone on [`Edit::rollback`] (or when dropped without
/// [`Edit::commit`]).
#[derive(Default)]
pub struct Edit {
    /// Files written, with their previous content (`None`: the file was new).
    written: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Directories created, outermost first.
    created_dirs: Vec<PathBuf>,
    done: bool,
}

impl Edit {
    /// Writes `content` to `path`, creating its directories, remembering what was there.
    pub fn write(&mut self, path: &Path, content: &str) -> Result<()> {
        if let Some(parent) = path.parent() {
            self.create_dir_all(parent)?;
        }
        let before = std::fs::read(path).ok();
        self.written.push((path.to_owned(), before));
        std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
    }

    fn create_dir_all(&mut self, dir: &Path) -> Result<()> {
        let mut missing = Vec::new();
        for d in dir.ancestors() {
            if d.exists() {
                break;
            }
            missing.push(d.to_owned());
        }
        for d in missing.into_iter().rev() {
            std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
            self.created_dirs.push(d);
        }
        Ok(())
    }

    /// Keeps the changes.
    pub fn commit(mut self) {
        self.done = true;
    }

    /// Undoes every change, newest first.
    pub fn rollback(mut self) {
        self.undo();
    }

    fn undo(&mut self) {
        for (path, before) in self.written.drain(..).rev() {
            match before {
                Some(content) => {
                    let _ = std::fs::write(&path, content);
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        for dir in self.created_dirs.drain(..).rev() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        self.done = true;
    }
}

impl Drop for Edit {
    fn drop(&mut self) {
        if !self.done {
            self.undo();
        }
    }
}

/// `text` with `line` inserted before the first line containing `marker`.
///
/// # Errors
/// When no line contains `marker`.
pub fn insert_before(text: &str, marker: &str, line: &str, file: &Path) -> Result<String> {
    let mut out = String::with_capacity(text.len() + line.len() + 1);
    let mut inserted = false;
    for l in text.split_inclusive('\n') {
        if !inserted && l.contains(marker) {
            out.push_str(line);
            out.push('\n');
            inserted = true;
        }
        out.push_str(l);
    }
    anyhow::ensure!(
        inserted,
        "{}: cannot find the line {marker:?} to insert before; was it edited by hand?",
        file.display()
    );
    Ok(out)
}

/// `text` without the line that reads exactly `line` (surrounding whitespace aside).
///
/// # Errors
/// When no line, or more than one, reads so.
pub fn remove_line(text: &str, line: &str, file: &Path) -> Result<String> {
    let wanted = line.trim();
    let found = text.lines().filter(|l| l.trim() == wanted).count();
    anyhow::ensure!(
        found == 1,
        "{}: {} the line {wanted:?}; was it edited by hand?",
        file.display(),
        if found == 0 {
            "cannot find"
        } else {
            "more than one"
        }
    );
    Ok(text
        .split_inclusive('\n')
        .filter(|l| l.trim() != wanted)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-edit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_rolled_back_edit_restores_files_and_removes_what_it_created() {
        let dir = temp_dir("rollback");
        let existing = dir.join("Cargo.toml");
        std::fs::write(&existing, "before").unwrap();
        let mut edit = Edit::default();
        edit.write(&existing, "after").unwrap();
        edit.write(&dir.join("new/deep/file.rs"), "x").unwrap();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "after");
        edit.rollback();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "before");
        assert!(!dir.join("new").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edit_dropped_without_commit_is_undone_and_a_committed_one_kept() {
        let dir = temp_dir("drop");
        {
            let mut edit = Edit::default();
            edit.write(&dir.join("a.rs"), "x").unwrap();
        }
        assert!(!dir.join("a.rs").exists());
        let mut edit = Edit::default();
        edit.write(&dir.join("b.rs"), "y").unwrap();
        edit.commit();
        assert!(dir.join("b.rs").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn removing_a_line_takes_exactly_that_line_or_refuses() {
        let text = "a\n    \"ext-x\",\n    \"ext-xy\",\nb\n";
        assert_eq!(
            remove_line(text, "\"ext-x\",", Path::new("f")).unwrap(),
            "a\n    \"ext-xy\",\nb\n"
        );
        let err = remove_line(text, "\"ext-z\",", Path::new("Cargo.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Cargo.toml: cannot find the line")
        );
        let twice = remove_line("x\nx\n", "x", Path::new("f")).unwrap_err();
        assert!(twice.to_string().contains("more than one"));
    }

    #[test]
    fn inserting_before_a_missing_marker_is_an_error_naming_the_file() {
        let err = insert_before("a\nb\n", "// marker", "x", Path::new("lib.rs")).unwrap_err();
        assert!(err.to_string().starts_with("lib.rs: cannot find the line"));
        assert_eq!(
            insert_before("a\n// marker\n", "// marker", "x", Path::new("f")).unwrap(),
            "a\nx\n// marker\n"
        );
    }
}
