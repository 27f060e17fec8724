//! `{{ variable }}` templates and variable names, checked the way Spin checks them.

/// Whether `name` is a valid variable name: lowercase ASCII letters, digits and `_`,
/// starting with a letter, with no doubled or trailing `_`.
pub fn is_valid_variable_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// The variable names a template refers to, or why it is malformed.
pub fn template_variables(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template `{template}` has an unclosed `{{{{`"))?;
        let name = after[..end].trim();
        if !is_valid_variable_name(name) {
            return Err(format!(
                "template `{template}` refers to `{name}`, which is not a valid variable name \
                 (lowercase letters, digits and single `_`, starting with a letter)"
            ));
        }
        names.push(name.to_owned());
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(format!("template `{template}` has a `}}}}` with no `{{{{`"));
    }
    Ok(names)
}

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A `{{` with no `}}` after it (a template the manifest check would have refused).
    #[error("template `{0}` has an unclosed `{{{{`")]
    Unclosed(String),
    /// The first variable `lookup` had no value for.
    #[error("variable `{0}` has no value")]
    Missing(String),
}

/// Renders a template, replacing each `{{ name }}` with `lookup(name)`.
pub fn render(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| RenderError::Unclosed(template.to_owned()))?;
        let name = after[..end].trim();
        out.push_str(&lookup(name).ok_or_else(|| RenderError::Missing(name.to_owned()))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a template's syntax.
pub fn check_template(template: &str) -> Result<(), String> {
    template_variables(template).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_spin_rules() {
        for ok in ["a", "api_key", "k8s_host"] {
            assert!(is_valid_variable_name(ok), "{ok}");
        }
        for bad in ["", "A", "1a", "api-key", "a__b", "a_", "_a"] {
            assert!(!is_valid_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn templates_list_their_variables() {
        assert_eq!(
            template_variables("https://{{ host }}:{{port}}").unwrap(),
            vec!["host", "port"]
        );
        assert!(template_variables("{{ host").is_err());
        assert!(template_variables("{{ Host }}").is_err());
        assert!(template_variables("x }}").is_err());
    }

    #[test]
    fn render_substitutes_and_names_the_missing_variable() {
        let lookup = |n: &str| (n == "host").then(|| "example.com".to_owned());
        assert_eq!(
            render("https://{{ host }}/x", lookup).unwrap(),
            "https://example.com/x"
        );
        assert_eq!(render("plain", lookup).unwrap(), "plain");
        assert_eq!(
            render("{{ host }}:{{ port }}", lookup).unwrap_err(),
            RenderError::Missing("port".into())
        );
        let unclosed = render("{{ host", lookup).unwrap_err();
        assert_eq!(unclosed, RenderError::Unclosed("{{ host".into()));
        assert_eq!(
            unclosed.to_string(),
            "template `{{ host` has an unclosed `{{`"
        );
    }
}
