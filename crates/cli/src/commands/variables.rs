//! `wisp up --variable`, as `spin up --variable` reads it: `KEY=VALUE`, `KEY=@FILE` (the
//! file's text is the value), or `@FILE.json` / `@FILE.toml` (a map of names to string
//! values). Later sources win over earlier ones.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::path::Path;

/// The variable values `sources` give, by name.
pub fn values(sources: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for source in sources {
        values.extend(read(source).with_context(|| format!("--variable {source}"))?);
    }
    Ok(values)
}

/// The values one `--variable` gives.
fn read(source: &str) -> anyhow::Result<HashMap<String, String>> {
    if let Some(path) = source.strip_prefix('@') {
        let path = Path::new(path);
        let text = wisp_manifest::read::read_text_capped(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON map of strings", path.display())),
            Some("toml") => toml::from_str(&text)
                .with_context(|| format!("{} is not a TOML table of strings", path.display())),
            _ => bail!("variable files must end in .json or .toml"),
        };
    }
    let Some((key, value)) = source.split_once('=') else {
        bail!("give `KEY=VALUE`, `KEY=@FILE` or `@FILE.json`/`@FILE.toml`");
    };
    if key.is_empty() {
        bail!("the variable's name is empty");
    }
    let value = match value.strip_prefix('@') {
        Some(path) => wisp_manifest::read::read_text_capped(Path::new(path))
            .with_context(|| format!("cannot read {path}"))?,
        None => value.to_owned(),
    };
    Ok([(key.to_owned(), value)].into())
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn sources_are_literals_files_and_maps_later_winning() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let json = file("vars.json", r#"{"a": "json", "b": "json"}"#);
        let toml = file("vars.toml", "b = \"toml\"\nc = \"toml\"\n");
        let text = file("secret.txt", "from a file");
        let got = values(&[
            format!("@{json}"),
            format!("@{toml}"),
            format!("d=@{text}"),
            "c=literal=with=equals".to_owned(),
        ])
        .unwrap();
        assert_eq!(got["a"], "json");
        assert_eq!(got["b"], "toml");
        assert_eq!(got["c"], "literal=with=equals");
        assert_eq!(got["d"], "from a file");

        let bad = file("vars.yaml", "a: b");
        for source in ["nope", "=v", &format!("@{bad}"), "k=@/no/such/file"] {
            let err = values(&[source.to_owned()]).unwrap_err();
            assert!(format!("{err:#}").contains(source), "{err:#}");
        }
        let not_strings = file("n.json", r#"{"a": 1}"#);
        assert!(values(&[format!("@{not_strings}")]).is_err());
    }
}
