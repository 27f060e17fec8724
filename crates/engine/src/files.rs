//! A component's `files`, staged into one read-only folder the guest sees as `/`.
//! Staging (hard links, falling back to copies) makes globs and `{ source, destination }`
//! mappings one preopen, and lets us refuse anything that would reach outside what the
//! manifest named: files are checked after resolving symlinks.

use std::path::{Component as PathPart, Path, PathBuf};
use wisp_manifest::FileMount;

/// Stages `mounts` for a component into `stage_dir`, replacing what was there.
/// Returns `None` when the component mounts nothing.
pub fn stage_files(
    root_dir: &Path,
    mounts: &[FileMount],
    exclude: &[String],
    stage_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    if stage_dir.exists() {
        std::fs::remove_dir_all(stage_dir)?;
    }
    if mounts.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(stage_dir)?;
    let root = root_dir.canonicalize()?;
    let excluded: Vec<glob::Pattern> = exclude
        .iter()
        .map(|p| glob::Pattern::new(p))
        .collect::<Result<_, _>>()?;
    let is_excluded = |path: &Path| {
        let rel = path.strip_prefix(&root).unwrap_or(path);
        excluded.iter().any(|p| p.matches_path(rel))
    };

    for mount in mounts {
        match mount {
            FileMount::Pattern(pattern) => {
                let full = root.join(pattern);
                let full = full.to_string_lossy();
                for entry in glob::glob(&full)? {
                    let path = entry?;
                    if !path.is_file() || is_excluded(&path) {
                        continue;
                    }
                    let rel = path.strip_prefix(&root)?.to_path_buf();
                    place(&path, &root, &stage_dir.join(rel))?;
                }
            }
            FileMount::Mapping {
                source,
                destination,
            } => {
                let source = source
                    .canonicalize()
                    .map_err(|e| anyhow::anyhow!("files: cannot read {}: {e}", source.display()))?;
                let dest = stage_dir.join(guest_relative(destination)?);
                if source.is_dir() {
                    std::fs::create_dir_all(&dest)?;
                    copy_tree(&source, &source, &dest, &is_excluded)?;
                } else {
                    let parent = source.parent().unwrap_or(&source).to_path_buf();
                    place(&source, &parent, &dest)?;
                }
            }
        }
    }
    Ok(Some(stage_dir.to_path_buf()))
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

fn copy_tree(
    dir: &Path,
    allowed_root: &Path,
    dest: &Path,
    is_excluded: &dyn Fn(&Path) -> bool,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_excluded(&path) {
            continue;
        }
        let target = dest.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            // A symlinked folder is followed only while it stays inside the mount.
            match path.canonicalize() {
                Ok(real) if real.starts_with(allowed_root) => {
                    std::fs::create_dir_all(&target)?;
                    copy_tree(&path, allowed_root, &target, is_excluded)?;
                }
                _ => {
                    tracing::warn!(path = %path.display(), "files: skipping a folder that resolves outside its mount")
                }
            }
        } else if path.is_file() {
            place(&path, allowed_root, &target)?;
        }
    }
    Ok(())
}

/// Links or copies one file, refusing one that resolves outside `allowed_root`.
fn place(path: &Path, allowed_root: &Path, target: &Path) -> anyhow::Result<()> {
    let real = path.canonicalize()?;
    if !real.starts_with(allowed_root) {
        tracing::warn!(path = %path.display(), "files: skipping a symlink that resolves outside its mount");
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::hard_link(&real, target).is_err() {
        std::fs::copy(&real, target)?;
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
        let out = stage_files(root, &mounts, &["static/secret.txt".into()], &stage)
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
        assert!(stage_files(app.path(), &[], &[], &stage).unwrap().is_none());
    }
}
