//! A component's `files`, staged into one read-only folder the guest sees as `/`.
//! Staging (hard links, falling back to copies) makes globs and `{ source, destination }`
//! mappings one preopen, and lets us refuse anything that would reach outside what the
//! manifest named. Symbolic links are never followed: a link met while walking is
//! skipped (with a warning), a mapping whose source is or passes through one is an
//! error, and nothing under the state directory (stores, databases, logs, earlier
//! stagings) is ever staged.

use glob::{MatchOptions, Pattern};
use std::path::{Component as PathPart, Path, PathBuf};
use wisp_manifest::FileMount;

/// `*` and `?` stop at `/`, as in `glob::glob`; `**` crosses folders.
const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Stages every component's files under `staging/<component id>` as the guest would see
/// them, for packing the app into an artifact; components that mount nothing are left
/// out. The app's `.wisp` state folder is never staged.
pub fn stage_app_files(
    app: &wisp_manifest::App,
    staging: &Path,
) -> anyhow::Result<std::collections::BTreeMap<String, PathBuf>> {
    use anyhow::Context;
    // When there is no state folder yet, nothing is there to skip (the staging folder
    // stands in: it is outside the app).
    let state_dir = app.root_dir.join(".wisp");
    let state_dir = if state_dir.is_dir() {
        state_dir
    } else {
        staging.to_path_buf()
    };
    let mut staged = std::collections::BTreeMap::new();
    for c in &app.components {
        let dir = staging.join(&c.id);
        let files = stage_files(&app.root_dir, &c.files, &c.exclude_files, &state_dir, &dir)
            .with_context(|| format!("component `{}`: cannot collect its files", c.id))?;
        if let Some(dir) = files {
            staged.insert(c.id.clone(), dir);
        }
    }
    Ok(staged)
}

/// Stages `mounts` for a component into `stage_dir`, replacing what was there.
/// Returns `None` when the component mounts nothing.
pub fn stage_files(
    root_dir: &Path,
    mounts: &[FileMount],
    exclude: &[String],
    state_dir: &Path,
    stage_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    if stage_dir.exists() {
        std::fs::remove_dir_all(stage_dir)?;
    }
    if mounts.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(stage_dir)?;
    let stager = Stager {
        root: root_dir.canonicalize()?,
        root_given: root_dir.to_path_buf(),
        state_dir: state_dir.canonicalize()?,
        excluded: exclude
            .iter()
            .map(|p| Pattern::new(p))
            .collect::<Result<_, _>>()?,
    };
    for mount in mounts {
        match mount {
            FileMount::Pattern(pattern) => stager.stage_pattern(pattern, stage_dir)?,
            FileMount::Mapping {
                source,
                destination,
            } => stager.stage_mapping(source, &stage_dir.join(guest_relative(destination)?))?,
        }
    }
    Ok(Some(stage_dir.to_path_buf()))
}

/// What one component's staging may take from.
struct Stager {
    /// The app folder, symlinks resolved.
    root: PathBuf,
    /// The app folder as the manifest's paths spell it.
    root_given: PathBuf,
    /// The state directory, symlinks resolved: never staged.
    state_dir: PathBuf,
    excluded: Vec<Pattern>,
}

impl Stager {
    fn is_excluded(&self, path: &Path) -> bool {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        self.excluded.iter().any(|p| p.matches_path(rel))
    }

    /// Stages every regular file below the app folder whose relative path matches
    /// `pattern`, walking only from the pattern's literal folders down.
    fn stage_pattern(&self, pattern: &str, stage_dir: &Path) -> anyhow::Result<()> {
        let compiled = Pattern::new(pattern)?;
        let literal: PathBuf = Path::new(pattern)
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        if literal.components().any(|c| c == PathPart::ParentDir) {
            anyhow::bail!("files: pattern `{pattern}` may not leave the app folder with `..`");
        }
        let base = self.root.join(&literal);
        if resolves_elsewhere(&base) {
            tracing::warn!(
                pattern,
                "files: skipping a pattern whose folder is a symlink"
            );
            return Ok(());
        }
        let mut found = Vec::new();
        self.walk(&base, &mut found)?;
        for path in found {
            let rel = path.strip_prefix(&self.root)?;
            if compiled.matches_path_with(rel, MATCH) {
                place(&path, &stage_dir.join(rel))?;
            }
        }
        Ok(())
    }

    /// Stages a `{ source, destination }` mapping: one file, or a folder's tree.
    fn stage_mapping(&self, source: &Path, dest: &Path) -> anyhow::Result<()> {
        let shown = source.display();
        let rel = source.strip_prefix(&self.root_given).unwrap_or(source);
        let spelled = lexical(&self.root.join(rel));
        let real = source
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("files: cannot read {shown}: {e}"))?;
        if real != spelled {
            anyhow::bail!(
                "files: {shown} is or passes through a symbolic link; wisp never follows \
                 links when mounting files (name the real path instead)"
            );
        }
        if real.starts_with(&self.state_dir) {
            anyhow::bail!("files: {shown} is inside the state directory, which is never mounted");
        }
        if real.is_dir() {
            let mut found = Vec::new();
            self.walk(&real, &mut found)?;
            for path in found {
                place(&path, &dest.join(path.strip_prefix(&real)?))?;
            }
            Ok(())
        } else {
            place(&real, dest)
        }
    }

    /// Collects the regular files at or below `path`, never following a symlink and never
    /// entering the state directory or an excluded path.
    fn walk(&self, path: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        if path.starts_with(&self.state_dir) || self.is_excluded(path) {
            return Ok(());
        }
        if meta.file_type().is_symlink() {
            tracing::warn!(path = %path.display(), "files: skipping a symbolic link (links are never followed)");
        } else if meta.is_file() {
            found.push(path.to_path_buf());
        } else if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            for entry in entries {
                self.walk(&entry, found)?;
            }
        }
        Ok(())
    }
}

/// Whether `path` exists and some part of it is a symlink.
fn resolves_elsewhere(path: &Path) -> bool {
    path.canonicalize().is_ok_and(|real| real != lexical(path))
}

/// `path` with `.` and `..` resolved by name alone.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            PathPart::CurDir => {}
            PathPart::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A guest path like `/assets/x` as a relative path with no `..`.
fn guest_relative(destination: &str) -> anyhow::Result<PathBuf> {
    let mut rel = PathBuf::new();
    for part in Path::new(destination).components() {
        match part {
            PathPart::RootDir | PathPart::CurDir => {}
            PathPart::Normal(p) => rel.push(p),
            _ => anyhow::bail!("files: destination `{destination}` may not contain `..`"),
        }
    }
    Ok(rel)
}

/// Links or copies one regular file (already checked to be no symlink) to `target`.
fn place(path: &Path, target: &Path) -> anyhow::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::hard_link(path, target).is_err() {
        std::fs::copy(path, target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_mappings_stage_into_one_tree() {
        let app = tempfile::tempdir().unwrap();
        let root = app.path();
        std::fs::create_dir_all(root.join("static/sub")).unwrap();
        std::fs::write(root.join("static/a.txt"), "a").unwrap();
        std::fs::write(root.join("static/sub/b.txt"), "b").unwrap();
        std::fs::write(root.join("static/secret.txt"), "s").unwrap();
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("assets/c.txt"), "c").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("passwd"), root.join("assets/link"))
            .unwrap();

        let stage = root.join(".stage");
        let mounts = [
            FileMount::Pattern("static/**/*".into()),
            FileMount::Mapping {
                source: root.join("assets"),
                destination: "/web".into(),
            },
        ];
        let out = stage_files(
            root,
            &mounts,
            &["static/secret.txt".into()],
            &state_dir(root),
            &stage,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("static/a.txt")).unwrap(),
            "a"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("static/sub/b.txt")).unwrap(),
            "b"
        );
        assert_eq!(std::fs::read_to_string(out.join("web/c.txt")).unwrap(), "c");
        assert!(
            !out.join("static/secret.txt").exists(),
            "excluded file staged"
        );
        assert!(
            !out.join("web/link").exists(),
            "symlink escaping the mount was staged"
        );
    }

    #[test]
    fn no_mounts_means_no_folder() {
        let app = tempfile::tempdir().unwrap();
        let stage = app.path().join("stage");
        assert!(
            stage_files(app.path(), &[], &[], &state_dir(app.path()), &stage)
                .unwrap()
                .is_none()
        );
    }

    fn state_dir(root: &Path) -> PathBuf {
        let dir = root.join(".wisp");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_are_never_followed_and_the_state_directory_is_never_staged() {
        let app = tempfile::tempdir().unwrap();
        let root = app.path();
        let state = state_dir(root);
        std::fs::write(state.join("sqlite_key_value.db"), "kv").unwrap();
        std::fs::create_dir_all(root.join("static")).unwrap();
        std::fs::write(root.join("static/ok.txt"), "ok").unwrap();
        // A link to a file inside the app, a link to a folder, a link out of the app.
        std::os::unix::fs::symlink("../.wisp/sqlite_key_value.db", root.join("static/kvdb"))
            .unwrap();
        std::os::unix::fs::symlink("../.wisp", root.join("static/state")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("static/etc")).unwrap();
        let stage = state.join("files/c");
        let all = [FileMount::Pattern("**/*".into())];
        let out = stage_files(root, &all, &[], &state, &stage)
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("static/ok.txt")).unwrap(),
            "ok"
        );
        for never in [
            "static/kvdb",
            "static/state/sqlite_key_value.db",
            "static/etc/hostname",
            ".wisp/sqlite_key_value.db",
        ] {
            assert!(!out.join(never).exists(), "{never} was staged");
        }
        // A mapping that names a link, or the state directory, is refused outright.
        for source in ["static/kvdb", "static/etc", ".wisp"] {
            let mapping = [FileMount::Mapping {
                source: root.join(source),
                destination: "/x".into(),
            }];
            let err = stage_files(root, &mapping, &[], &state, &stage).unwrap_err();
            assert!(
                err.to_string().contains("symbolic link")
                    || err.to_string().contains("state directory"),
                "{source}: {err}"
            );
        }
    }
}
