//! The authorizer that keeps a guest's SQL inside the one database it was granted.
//!
//! SQLite asks it about every action while a statement is prepared (table-valued
//! `pragma_*` functions included). Everything that stays inside the file is allowed;
//! what reaches another file (ATTACH, VACUUM INTO), loads code, reveals the host's paths
//! or changes how the shared connection behaves for everyone else is refused, and the
//! refusal is remembered so the guest's error can say what was refused.

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// PRAGMAs that only describe the schema or the file, with or without an argument
/// (`table_info(t)`); none names a host path.
const INTROSPECTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// PRAGMAs that may be read but not set: setting them changes the shared connection for
/// every instance (`cache_size`, `synchronous`, `journal_mode`...).
const READ_ONLY_PRAGMAS: &[&str] = &[
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
    "encoding",
    "page_size",
    "page_count",
    "freelist_count",
    "schema_version",
    "data_version",
    "journal_mode",
    "auto_vacuum",
    "synchronous",
    "cache_size",
    "max_page_count",
];

/// PRAGMAs a guest may set: they change only the schema's own settings or the
/// statements' semantics, as ORMs and migration tools expect to.
const SETTABLE_PRAGMAS: &[&str] = &[
    "foreign_keys",
    "defer_foreign_keys",
    "recursive_triggers",
    "user_version",
    "application_id",
    "legacy_alter_table",
    "automatic_index",
    "optimize",
    "incremental_vacuum",
    "analysis_limit",
];

/// The authorizer's memory of its last refusal, and whether the host itself is running
/// statements (then nothing is refused).
#[derive(Clone, Default)]
pub(super) struct Denials {
    last: Arc<Mutex<Option<String>>>,
    trusted: Arc<AtomicBool>,
}

impl Denials {
    /// Forgets an earlier refusal.
    pub(super) fn clear(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The refusal recorded since the last `clear`, if any.
    pub(super) fn take(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Lets the host's own statements through unchecked while `on`.
    pub(super) fn set_trusted(&self, on: bool) {
        self.trusted.store(on, Ordering::Relaxed);
    }

    fn record(&self, refused: String) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused);
    }
}

/// Installs the authorizer on `conn`; refusals are recorded in `denials`.
pub(super) fn install_authorizer(conn: &Connection, denials: Denials) {
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        if denials.trusted.load(Ordering::Relaxed) {
            return Authorization::Allow;
        }
        match refusal(&ctx.action) {
            None => Authorization::Allow,
            Some(why) => {
                denials.record(format!(
                    "not authorized: {why} (a component reaches only the database it was granted)"
                ));
                Authorization::Deny
            }
        }
    }));
}

/// Why `action` is refused, or `None` when it stays inside the granted database.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    match *action {
        // A plain VACUUM attaches an unnamed temporary database for its copy.
        AuthAction::Attach { filename: "" } => None,
        AuthAction::Attach { .. } => Some("ATTACH and VACUUM INTO are not allowed".into()),
        AuthAction::Detach { .. } => Some("DETACH is not allowed".into()),
        AuthAction::Function {
            function_name: name,
        } if name.eq_ignore_ascii_case("load_extension") => {
            Some("loading extensions is not allowed".into())
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => pragma_refusal(pragma_name, pragma_value),
        AuthAction::Unknown { code, .. } => Some(format!("action {code} is not allowed")),
        _ => None,
    }
}

fn pragma_refusal(name: &str, value: Option<&str>) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let listed = |list: &[&str]| list.contains(&name.as_str());
    if listed(INTROSPECTION_PRAGMAS)
        || listed(SETTABLE_PRAGMAS)
        || (value.is_none() && listed(READ_ONLY_PRAGMAS))
    {
        return None;
    }
    Some(if listed(READ_ONLY_PRAGMAS) {
        format!("PRAGMA {name} may be read but not set")
    } else {
        format!("PRAGMA {name} is not allowed")
    })
}
