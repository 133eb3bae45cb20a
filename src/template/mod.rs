//! Jinja2 templating the way Ansible does it, on top of minijinja.
//!
//! Admins bring their existing `.j2` templates and `when:` expressions, so
//! the environment is configured like Ansible's template module
//! (`trim_blocks`, kept trailing newline, strict undefined variables) and
//! carries the Ansible filters and tests people use.
//!
//! Where each filter comes from:
//! - minijinja builtins: `default`/`d`, `int`/`float` (replaced, see below),
//!   `string`, `length`/`count`, `join`, `upper`, `lower`, `title`,
//!   `capitalize`, `replace`, `trim`, `first`, `last`, `min`, `max`, `sum`,
//!   `sort`, `dictsort`, `unique`, `reverse`, `list`, `map`, `select`,
//!   `reject`, `selectattr`, `rejectattr`, `groupby`, `batch`, `slice`,
//!   `zip`, `items`, `indent`, `round`, `abs`, `attr`, `split`, `lines`,
//!   `format`, `tojson`, `urlencode`, `escape`/`e`, `safe`, `pprint`,
//!   `chain`.
//! - minijinja-contrib: `pluralize`, `filesizeformat`, `truncate`,
//!   `striptags`, and (pycompat) Python methods on strings and dicts such as
//!   `.split()`, `.startswith()`, `.items()`, `.keys()`, `.get()`.
//! - ours (in `filters/`): see [`filters`] — the Ansible-only ones, plus
//!   `bool`, `int` and `float` replaced with Ansible's semantics.
//!
//! Tests: minijinja provides `defined`, `undefined`, `none`, `string`,
//! `number`, `mapping`, `iterable`, `sequence`, `in`, `eq`... ; ours are in
//! [`jinja_tests`].

mod chains;
mod conditional;
mod env;
mod error;
pub mod filters;
pub mod jinja_tests;
mod lookups;
mod now;
mod percent;
mod scope;
mod value;
mod walk;

pub use env::{FileOptions, OMIT, Templates, Vars, contains_template};
pub use error::TemplateError;
pub use lookups::{LOOKUP_SUBDIR_KEY, first_found_items};
pub use scope::{Scope, TaskVars};
