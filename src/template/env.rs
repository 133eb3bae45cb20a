//! The configured minijinja environment and herd's rendering API.
//!
//! Settings follow Ansible's template module defaults:
//! - `trim_blocks = true`: the newline after a block tag is dropped;
//! - `lstrip_blocks = false`: indentation before a block tag is kept;
//! - trailing newline kept: a config file keeps its last newline;
//! - newline sequence `\n`: CRLF/CR line ends in a template become LF;
//! - no auto-escaping, whatever the file name (minijinja would otherwise
//!   escape `*.html`, `*.json`, `*.yml` templates);
//! - strict undefined variables: printing, iterating, using in an `if` or
//!   looking up an attribute of an undefined variable is an error, as in
//!   Ansible; `is defined`, `is undefined` and `| default(...)` work.
//!   (minijinja's `SemiStrict` would make `{% if typo %}` / `when: typo`
//!   silently false; Ansible errors there, so we use `Strict`.)

use minijinja::syntax::SyntaxConfig;
use std::collections::HashSet;

use minijinja::value::merge_maps;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use super::error::TemplateError;
use super::filters;
use super::jinja_tests;
use super::percent;
use super::scope::{DATA_KEY, Scope};
use super::value::{from_json, to_json};

/// Variables a template sees; the same shape as the inventory's variables.
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// What `{{ omit }}` renders to. Like Ansible, [`Templates::render_value`]
/// drops map entries and list items whose value is exactly this marker, so
/// `mode: "{{ file_mode | default(omit) }}"` leaves the argument out.
pub const OMIT: &str = "__omit_place_holder__herd__";

/// Per-render settings of the `template` module: where `{% include %}`,
/// `{% import %}`, `{% from %}` and `{% extends %}` find other templates,
/// and custom delimiters (`None` keeps Jinja's).
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// Directories searched, in order, for the names other templates use.
    pub search_dirs: Vec<std::path::PathBuf>,
    pub block: Option<(String, String)>,
    pub variable: Option<(String, String)>,
    pub comment: Option<(String, String)>,
    /// Jinja's line statements (`# for x in y`) and line comments.
    pub line_statement_prefix: Option<String>,
    pub line_comment_prefix: Option<String>,
}

/// A Jinja2 environment configured like Ansible's, with Ansible's filters and tests.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_syntax(syntax(&FileOptions::default()).expect("the default delimiters are valid"));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Debug info gives errors their line and the undefined variable's name.
        env.set_debug(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(python_method);
        env.add_global("omit", OMIT);
        env.add_function("now", super::now::now);
        env.add_function(percent::FUNCTION, |l: Value, r: Value| {
            percent::percent(&l, &r)
        });
        super::lookups::register(&mut env);
        filters::register(&mut env);
        jinja_tests::register(&mut env);
        Templates { env }
    }

    /// Renders a template file's text; `name` is the path shown in errors.
    pub fn render_file(
        &self,
        name: &str,
        source: &str,
        vars: &impl Scope,
    ) -> Result<String, TemplateError> {
        let source = normalize_newlines(source);
        let fail = |e: minijinja::Error| TemplateError::from_minijinja(&e, name, &source);
        let rewritten = percent::rewrite_template(&source, &default_syntax());
        let template = self
            .env
            .template_from_named_str(name, &rewritten)
            .map_err(fail)?;
        let ctx = self.context(template.undeclared_variables(false), vars)?;
        template.render(ctx).map_err(fail)
    }

    /// [`Templates::render_file`] with the template module's settings: a
    /// loader for the templates this one includes or imports, and custom
    /// delimiters. Works on a copy of the environment (cheap: its functions
    /// are shared).
    pub fn render_file_with(
        &self,
        name: &str,
        source: &str,
        vars: &impl Scope,
        opts: &FileOptions,
    ) -> Result<String, TemplateError> {
        let mut env = self.env.clone();
        let source = normalize_newlines(source);
        let fail = |e: minijinja::Error| TemplateError::from_minijinja(&e, name, &source);
        let syntax = syntax(opts).map_err(fail)?;
        env.set_syntax(syntax.clone());
        let rewritten = percent::rewrite_template(&source, &syntax).into_owned();
        let dirs = opts.search_dirs.clone();
        env.set_loader(move |wanted: &str| {
            for dir in &dirs {
                let path = dir.join(wanted);
                if path.is_file() {
                    return std::fs::read_to_string(&path)
                        .map(|text| {
                            let text = normalize_newlines(&text);
                            Some(percent::rewrite_template(&text, &syntax).into_owned())
                        })
                        .map_err(|e| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("reading template {}: {e}", path.display()),
                            )
                        });
                }
            }
            Ok(None)
        });
        let template = env
            .template_from_named_str(name, &rewritten)
            .map_err(fail)?;
        let ctx = self.context(template.undeclared_variables(false), vars)?;
        template.render(ctx).map_err(fail)
    }

    /// Renders a task argument as Ansible does: a string that is exactly one
    /// `{{ expression }}` yields the expression's typed value (number, list,
    /// map...), any other string with template syntax yields a string, and
    /// lists and maps are rendered item by item (map keys are left as they
    /// are). Entries that render to [`OMIT`] are dropped.
    pub fn render_value(
        &self,
        value: &serde_json::Value,
        vars: &impl Scope,
    ) -> Result<serde_json::Value, TemplateError> {
        let ctx = self.context(self.mentions(value), vars)?;
        self.render_value_in(value, &ctx)
    }

    /// Renders `text` (a keyword's value: `hosts:`, a `vars_files` entry, a
    /// loop label) as text: a string as it comes out, any other value as
    /// JSON.
    pub fn render_text(&self, text: &str, vars: &impl Scope) -> Result<String, TemplateError> {
        Ok(
            match self.render_value(&serde_json::Value::String(text.to_string()), vars)? {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            },
        )
    }

    /// Evaluates a bare expression (`when:`, `failed_when:`, `until:`) to a value.
    pub fn eval(&self, expr: &str, vars: &impl Scope) -> Result<serde_json::Value, TemplateError> {
        let names = self.expression_mentions(expr);
        let ctx = self.context(names, vars)?;
        self.eval_in(expr, &ctx)
    }

    /// Evaluates a condition to a bool.
    ///
    /// The rule: the expression is evaluated with Jinja truthiness (false,
    /// none, 0, "" and empty lists/maps are false; any other string is true,
    /// even "false" or "no" — use `| bool` for those), except that a result
    /// that is exactly the string "True" or "False" (what nested templating
    /// produces from a bool) counts as that bool. An undefined variable is an
    /// error, as in Ansible. A condition wrapped in `{{ }}` is accepted.
    pub fn eval_bool(&self, expr: &str, vars: &impl Scope) -> Result<bool, TemplateError> {
        let expr = self.conditional(strip_delimiters(expr), vars)?;
        Ok(truthy(&self.eval(&expr, vars)?))
    }

    /// A conditional ready to evaluate: string literals holding a template
    /// rendered to values (see `conditional`). A template outside the
    /// literals (`{{ a }} == {{ b }}`) is rendered first, as Ansible before
    /// 2.19 did, unless it reads data: host output would become code.
    fn conditional(&self, expr: &str, vars: &impl Scope) -> Result<String, TemplateError> {
        if !has_template(expr) {
            return Ok(expr.to_string());
        }
        let rendered = super::conditional::render_literals(expr, |literal| {
            Ok(
                match self.render_value(&serde_json::Value::String(literal.into()), vars)? {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                },
            )
        })?;
        if !rendered.template_outside_literals {
            return Ok(rendered.expr);
        }
        let whole = serde_json::Value::String(expr.to_string());
        if self.uses_data(&whole, vars) {
            return Err(TemplateError::plain(
                &format!("conditional `{expr}`"),
                "a template outside a string literal must not be built from host data \
                 (registered results, facts, loop items of them): write the expression out, \
                 e.g. `result.stdout == 'x'` rather than `{{ result.stdout }} == 'x'`",
            ));
        }
        Ok(match self.render_value(&whole, vars)? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Evaluates a list of conditions (`when: [a, b]`), which Ansible ANDs:
    /// true when all are true; stops at the first false one, so later
    /// conditions may rely on earlier ones (`x is defined`, then `x > 1`).
    pub fn eval_all<S: AsRef<str>>(
        &self,
        exprs: &[S],
        vars: &impl Scope,
    ) -> Result<bool, TemplateError> {
        for expr in exprs {
            if !self.eval_bool(expr.as_ref(), vars)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether rendering `value` reads a variable that is data, directly or
    /// through the templated variables it mentions. Text rendered from data
    /// is data: it must not become an expression herd evaluates (`assert`'s
    /// `that`, `debug`'s `var`) nor a variable rendered again (a loop item).
    pub fn uses_data(&self, value: &serde_json::Value, vars: &impl Scope) -> bool {
        let mut seen = HashSet::new();
        let mut todo: Vec<String> = self.mentions(value).into_iter().collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if vars.is_data(&name) {
                return true;
            }
            if let Some(raw) = vars.vars().get(&name).filter(|v| contains_template(v)) {
                todo.extend(self.mentions(raw));
            }
        }
        false
    }

    /// The context for rendering something that mentions `names`.
    ///
    /// Ansible templates variables lazily: a variable whose value is itself a
    /// template (`bench_host: "{{ inventory_hostname }}"`) is rendered when
    /// it is used, and an unused broken one is no error. We do the same for
    /// the top-level variables mentioned (and the ones they mention, in
    /// turn), except those that are data (see `scope`); templates nested
    /// inside other structures (`hostvars[h].x`) are not rendered.
    fn context(&self, names: HashSet<String>, vars: &dyn Scope) -> Result<Value, TemplateError> {
        let mut resolver = Resolver {
            templates: self,
            scope: vars,
            done: Vars::new(),
            stack: Vec::new(),
        };
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        for name in names {
            resolver.resolve(&name)?;
        }
        Ok(resolver.context())
    }

    /// Top-level variables the template strings inside `value` mention.
    fn mentions(&self, value: &serde_json::Value) -> HashSet<String> {
        let mut names = HashSet::new();
        walk_templates(value, &mut |s| {
            let found = match single_expression(s) {
                Some(expr) => self.expression_mentions(expr),
                None => self
                    .env
                    .template_from_str(s)
                    .map(|t| t.undeclared_variables(false))
                    .unwrap_or_default(),
            };
            names.extend(found);
        });
        names
    }

    fn expression_mentions(&self, expr: &str) -> HashSet<String> {
        self.env
            .compile_expression_owned(strip_delimiters(expr).to_string())
            .map(|e| e.undeclared_variables(false))
            .unwrap_or_default()
    }

    fn render_value_in(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => self.render_string(s, ctx)?,
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let item = self.render_value_in(item, ctx)?;
                    if !is_omit(&item) {
                        out.push(item);
                    }
                }
                J::Array(out)
            }
            J::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let item = self.render_value_in(item, ctx)?;
                    if !is_omit(&item) {
                        out.insert(key.clone(), item);
                    }
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    fn eval_in(&self, expr: &str, ctx: &Value) -> Result<serde_json::Value, TemplateError> {
        let name = format!("expression `{expr}`");
        // Errors name the expression as written, not as guarded.
        let compiled = self
            .env
            .compile_expression_owned(
                percent::rewrite_expr(&super::chains::guard_chains(expr)).into_owned(),
            )
            .map_err(|e| TemplateError::from_minijinja(&e, &name, expr))?;
        let value = compiled
            .eval(ctx.clone())
            .map_err(|e| TemplateError::from_minijinja(&e, &name, expr))?;
        if value.is_undefined() {
            return Err(self.undefined_error(expr, ctx.clone(), &name));
        }
        to_json(&value).map_err(|e| TemplateError::from_minijinja(&e, &name, expr))
    }

    fn render_string(&self, s: &str, ctx: &Value) -> Result<serde_json::Value, TemplateError> {
        if !has_template(s) {
            return Ok(serde_json::Value::String(s.to_string()));
        }
        if let Some(expr) = single_expression(s) {
            return self.eval_in(expr, ctx);
        }
        // `x: >\n  {{ [a] + b }}` (a trailing newline): Ansible still gets
        // the list or dict; a string keeps its surrounding text.
        if let Some(expr) = single_expression(s.trim()) {
            let value = self.eval_in(expr, ctx)?;
            if value.is_array() || value.is_object() {
                return Ok(value);
            }
        }
        let name = format!("value `{s}`");
        self.env
            .render_named_str(
                &name,
                &percent::rewrite_template(s, &default_syntax()),
                ctx.clone(),
            )
            .map(serde_json::Value::String)
            .map_err(|e| TemplateError::from_minijinja(&e, &name, s))
    }

    /// An expression evaluated to undefined without failing (e.g. `foo` or
    /// `a and foo`); printing it makes minijinja name the culprit.
    fn undefined_error(&self, expr: &str, ctx: Value, name: &str) -> TemplateError {
        let probe = format!("{{{{ {expr} }}}}");
        match self.env.render_str(&probe, ctx) {
            Err(e) => {
                let mut err = TemplateError::from_minijinja(&e, name, &probe);
                err.name = name.to_string();
                err.line = None;
                err.column = None;
                err
            }
            Ok(_) => TemplateError::plain(name, "the expression is undefined"),
        }
    }
}

/// Renders templated variables on demand, in dependency order; never the
/// ones that are data.
struct Resolver<'a> {
    templates: &'a Templates,
    scope: &'a dyn Scope,
    /// Variables already rendered.
    done: Vars,
    /// Variables being rendered, to report cycles.
    stack: Vec<String>,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str) -> Result<(), TemplateError> {
        if self.done.contains_key(name) {
            return Ok(());
        }
        let Some(raw) = self.scope.vars().get(name) else {
            return Ok(());
        };
        if self.scope.is_data(name) || !contains_template(raw) {
            return Ok(());
        }
        if self.stack.iter().any(|n| n == name) {
            let chain = self.stack.join("` -> `");
            return Err(TemplateError::plain(
                &format!("variable `{name}`"),
                format!("refers to itself (`{chain}` -> `{name}`)"),
            ));
        }
        self.stack.push(name.to_string());
        let mut deps: Vec<String> = self.templates.mentions(raw).into_iter().collect();
        deps.sort();
        for dep in deps {
            self.resolve(&dep)?;
        }
        let value = self
            .templates
            .render_value_in(raw, &self.context())
            .map_err(|mut e| {
                e.message = format!("in variable `{name}`: {}", e.message);
                e
            })?;
        self.stack.pop();
        self.done.insert(name.to_string(), value);
        Ok(())
    }

    /// The raw variables, with the rendered ones in front (merge_maps: last
    /// wins), and the names of the data ones for the `template` lookup.
    fn context(&self) -> Value {
        let vars = from_json(self.scope.vars());
        let data = self.scope.data_names();
        match (self.done.is_empty(), data.is_empty()) {
            (true, true) => vars,
            (true, false) => merge_maps([vars, data_marker(data)]),
            (false, _) => merge_maps([vars, from_json(&self.done), data_marker(data)]),
        }
    }
}

/// `{"herd data": [names]}`: see [`DATA_KEY`].
fn data_marker(names: Vec<&str>) -> Value {
    let names: Vec<Value> = names.into_iter().map(Value::from).collect();
    Value::from(std::collections::BTreeMap::from([(
        DATA_KEY,
        Value::from(names),
    )]))
}

/// Python methods on values: pycompat's, plus `list.index(x)` and
/// `str.index(x)` (the position of the first `x`, an error when absent).
fn python_method(
    state: &mut minijinja::State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, minijinja::Error> {
    if method == "index" && args.len() == 1 {
        let not_found = || {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("{} is not in {value}", args[0]),
            )
        };
        if let Some(s) = value.as_str() {
            let needle = args[0].as_str().ok_or_else(not_found)?;
            return s
                .find(needle)
                .map(|i| Value::from(s[..i].chars().count()))
                .ok_or_else(not_found);
        }
        if matches!(value.kind(), minijinja::value::ValueKind::Seq) {
            for (i, item) in value.try_iter()?.enumerate() {
                if item == args[0] {
                    return Ok(Value::from(i));
                }
            }
            return Err(not_found());
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// [`syntax`] with Jinja's delimiters (built once).
pub(crate) fn default_syntax() -> SyntaxConfig {
    static SYNTAX: std::sync::OnceLock<SyntaxConfig> = std::sync::OnceLock::new();
    SYNTAX
        .get_or_init(|| syntax(&FileOptions::default()).expect("the default delimiters are valid"))
        .clone()
}

/// Ansible's template settings (trim_blocks, keep the trailing newline),
/// with the delimiters of `opts`.
fn syntax(opts: &FileOptions) -> Result<SyntaxConfig, minijinja::Error> {
    let mut builder = SyntaxConfig::builder();
    builder
        .trim_blocks(true)
        .lstrip_blocks(false)
        .keep_trailing_newline(true);
    if let Some((start, end)) = &opts.block {
        builder.block_delimiters(start.clone(), end.clone());
    }
    if let Some((start, end)) = &opts.variable {
        builder.variable_delimiters(start.clone(), end.clone());
    }
    if let Some((start, end)) = &opts.comment {
        builder.comment_delimiters(start.clone(), end.clone());
    }
    if let Some(prefix) = &opts.line_statement_prefix {
        builder.line_statement_prefix(prefix.clone());
    }
    if let Some(prefix) = &opts.line_comment_prefix {
        builder.line_comment_prefix(prefix.clone());
    }
    builder.build()
}

pub(crate) fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Whether `value` holds template syntax anywhere.
pub fn contains_template(value: &serde_json::Value) -> bool {
    let mut found = false;
    walk_templates(value, &mut |_| found = true);
    found
}

/// Calls `f` on every string with template syntax inside `value`.
fn walk_templates(value: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match value {
        serde_json::Value::String(s) if has_template(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk_templates(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| walk_templates(v, f)),
        _ => {}
    }
}

/// Ansible's condition truthiness; see [`Templates::eval_bool`].
fn truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match value {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        J::String(s) if s == "True" => true,
        J::String(s) if s == "False" => false,
        J::String(s) => !s.is_empty(),
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
    }
}

fn is_omit(value: &serde_json::Value) -> bool {
    value.as_str() == Some(OMIT)
}

/// The inside of a string that is exactly one `{{ ... }}`, if it is one.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner.trim())
}

/// `when: "{{ x }}"` works in Ansible (with a warning); accept it too.
fn strip_delimiters(expr: &str) -> &str {
    single_expression(expr.trim()).unwrap_or(expr)
}

/// Jinja turns every `\r\n` and lone `\r` of a template into `\n` (Ansible's
/// `newline_sequence` default).
fn normalize_newlines(source: &str) -> std::borrow::Cow<'_, str> {
    if source.contains('\r') {
        source.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        source.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: serde_json::Value) -> Vars {
        match v {
            serde_json::Value::Object(map) => map,
            _ => panic!("vars must be an object"),
        }
    }

    fn render(source: &str, v: serde_json::Value) -> String {
        Templates::new()
            .render_file("t.j2", source, &vars(v))
            .unwrap()
    }

    #[test]
    fn keeps_the_trailing_newline() {
        assert_eq!(
            render("port = {{ port }}\n", json!({"port": 80})),
            "port = 80\n"
        );
        assert_eq!(render("a\n\n", json!({})), "a\n\n");
    }

    #[test]
    fn trim_blocks_drops_the_newline_after_block_tags_only() {
        // Ansible: trim_blocks=True, lstrip_blocks=False.
        let source = "[hosts]\n{% for h in hosts %}\n  {{ h }}\n{% endfor %}\nend {{ x }}\n";
        assert_eq!(
            render(source, json!({"hosts": ["a", "b"], "x": 1})),
            "[hosts]\n  a\n  b\nend 1\n"
        );
        // Indentation before a block tag stays (no lstrip_blocks).
        assert_eq!(
            render("  {% if true %}\nx\n  {% endif %}\n", json!({})),
            "  x\n  "
        );
        // Expressions are not blocks: their newline stays.
        assert_eq!(render("{{ 1 }}\n{{ 2 }}\n", json!({})), "1\n2\n");
    }

    #[test]
    fn crlf_templates_render_with_lf() {
        assert_eq!(render("a\r\nb {{ 1 }}\r\n", json!({})), "a\nb 1\n");
    }

    #[test]
    fn file_options_load_other_templates_and_change_delimiters() {
        let dir = std::env::temp_dir().join(format!("herd-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("m.j2"),
            "{% macro hi(n) %}hi {{ n }}{% endmacro %}",
        )
        .unwrap();
        std::fs::write(dir.join("part"), "[{{ x }}]").unwrap();
        let t = Templates::new();
        let opts = FileOptions {
            search_dirs: vec![dir.clone()],
            ..Default::default()
        };
        let src = "{% import 'm.j2' as m %}{{ m.hi(x) }} {% include 'part' %}";
        let out = t
            .render_file_with("t", src, &vars(json!({"x": 1})), &opts)
            .unwrap();
        assert_eq!(out, "hi 1 [1]");
        let opts = FileOptions {
            variable: Some(("[[".into(), "]]".into())),
            comment: Some(("[#".into(), "#]".into())),
            ..Default::default()
        };
        let out = t
            .render_file_with("t", "[# c #][[ x ]] {{ x }}", &vars(json!({"x": 2})), &opts)
            .unwrap();
        assert_eq!(out, "2 {{ x }}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn never_auto_escapes() {
        let t = Templates::new();
        let v = vars(json!({"s": "<a href=\"x\">&'"}));
        for name in ["index.html.j2", "x.json.j2", "x.yml", "x.xml"] {
            assert_eq!(
                t.render_file(name, "{{ s }}", &v).unwrap(),
                "<a href=\"x\">&'",
                "{name}"
            );
        }
    }

    #[test]
    fn undefined_variable_error_names_variable_and_place() {
        let err = Templates::new()
            .render_file(
                "templates/app.conf.j2",
                "a = 1\nb = {{ listen_port }}\n",
                &Vars::new(),
            )
            .unwrap_err();
        assert_eq!(err.name, "templates/app.conf.j2");
        assert_eq!(err.line, Some(2));
        assert_eq!(err.column, Some(8));
        assert_eq!(err.undefined.as_deref(), Some("listen_port"));
        assert_eq!(
            err.to_string(),
            "templates/app.conf.j2:2:8: 'listen_port' is undefined \
             (define it in vars, group_vars or host_vars, or use `| default(...)`)"
        );
        // A missing attribute names the full path; so does a missing var in `if`.
        let err = Templates::new()
            .render_file("t.j2", "{{ app.port }}", &vars(json!({"app": {}})))
            .unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("app.port"));
        let err = Templates::new()
            .render_file("t.j2", "x\n{% if enabled %}y{% endif %}", &Vars::new())
            .unwrap_err();
        assert_eq!(
            (err.undefined.as_deref(), err.line),
            (Some("enabled"), Some(2))
        );
    }

    #[test]
    fn default_and_is_defined_work_with_undefined_vars() {
        assert_eq!(
            render("{{ port | default(8080) }} {{ port | d(1) }}", json!({})),
            "8080 1"
        );
        assert_eq!(
            render("{{ port | default(8080) }}", json!({"port": 80})),
            "80"
        );
        assert_eq!(
            render("{{ x is defined }} {{ x is undefined }}", json!({})),
            "False True"
        );
        assert_eq!(
            render(
                "{% if x is defined and x %}y{% else %}n{% endif %}",
                json!({})
            ),
            "n"
        );
        assert_eq!(
            render("{{ '' | default('empty', true) }}", json!({})),
            "empty"
        );
        assert_eq!(
            render("{{ cfg.missing | default('d') }}", json!({"cfg": {}})),
            "d"
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = Templates::new()
            .render_file("bad.j2", "ok\n{% if %}", &Vars::new())
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("syntax error"), "{err}");
        let err = Templates::new()
            .render_file("f.j2", "{{ 1 | nosuch }}", &Vars::new())
            .unwrap_err();
        assert!(err.to_string().contains("nosuch"), "{err}");
    }

    #[test]
    fn minijinja_builtins_ansible_users_rely_on() {
        let v = json!({"users": [
            {"name": "ann", "admin": true, "uid": 1002},
            {"name": "bob", "admin": false, "uid": 1001},
        ]});
        let out = render(
            "{{ users | selectattr('admin') | map(attribute='name') | join(',') }}|\
             {{ users | rejectattr('admin') | map(attribute='uid') | first }}|\
             {{ users | map(attribute='uid') | sort | last }}|\
             {{ users | map(attribute='uid') | max }}|{{ [3, 1] | min }}|{{ [1, 2] | sum }}|\
             {{ [1, 2, 2] | unique | list | length }}|{{ ' Hi ' | trim | upper | lower }}|\
             {{ 'a-b' | replace('-', '_') }}|{{ 5 | string }}|{{ [1, 2] | select('odd') | list }}|\
             {{ [1, 2] | reject('odd') | list }}|{{ [1, 2] | zip(['a', 'b']) | list }}",
            v,
        );
        assert_eq!(
            out,
            "ann|1001|1002|1002|1|3|2|hi|a_b|5|[1]|[2]|[(1, 'a'), (2, 'b')]"
        );
    }

    #[test]
    fn python_methods_from_pycompat() {
        assert_eq!(
            render(
                "{{ 'a,b'.split(',') }} {{ d.items() | list }} {{ 'Web'.startswith('W') }}",
                json!({"d": {"k": 1}})
            ),
            "['a', 'b'] [('k', 1)] True"
        );
        assert_eq!(
            render(
                "{{ l.index('b') }} {{ 'xyz'.index('z') }}",
                json!({"l": ["a", "b"]})
            ),
            "1 2"
        );
    }

    #[test]
    fn render_value_keeps_types_for_a_single_expression() {
        let t = Templates::new();
        let v = vars(json!({"port": 80, "hosts": ["a", "b"], "cfg": {"x": true}, "name": "web"}));
        let r = |value: serde_json::Value| t.render_value(&value, &v).unwrap();
        assert_eq!(r(json!("{{ port }}")), json!(80));
        assert_eq!(r(json!("{{ port + 1 }}")), json!(81));
        assert_eq!(r(json!("{{ hosts }}")), json!(["a", "b"]));
        assert_eq!(r(json!("{{ cfg }}")), json!({"x": true}));
        assert_eq!(r(json!("{{- name -}}")), json!("web"));
        assert_eq!(r(json!("port {{ port }}")), json!("port 80"));
        assert_eq!(r(json!("{{ port }}{{ port }}")), json!("8080"));
        assert_eq!(r(json!("plain")), json!("plain"));
        assert_eq!(r(json!(7)), json!(7));
        assert_eq!(
            r(
                json!({"dest": "/etc/{{ name }}.conf", "list": ["{{ port }}", 1], "mode": "{{ nomode | default(omit) }}"})
            ),
            json!({"dest": "/etc/web.conf", "list": [80, 1]})
        );
        let err = t
            .render_value(&json!({"a": ["{{ nope }}"]}), &v)
            .unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("nope"));
    }

    #[test]
    fn eval_bool_follows_the_documented_rule() {
        let t = Templates::new();
        let v = vars(json!({
            "yes_bool": true, "no_bool": false, "zero": 0, "empty": "", "word_false": "false",
            "py_false": "False", "py_true": "True", "list": [], "n": 5, "result": {"rc": 1, "failed": true},
        }));
        let b = |e: &str| t.eval_bool(e, &v).unwrap();
        assert!(b("yes_bool") && !b("no_bool"));
        assert!(!b("zero") && !b("empty") && !b("list"));
        assert!(b("word_false"), "a non-empty string is true, as in Jinja");
        assert!(!b("word_false | bool"));
        assert!(
            !b("py_false") && b("py_true"),
            "nested templating's True/False count as bools"
        );
        assert!(b("n > 3 and result is failed"));
        assert!(b("result.rc != 0"));
        assert!(b("missing is not defined"));
        assert!(b("{{ n == 5 }}"));
        let err = t.eval_bool("missing", &v).unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("missing"));
        assert!(
            err.to_string()
                .starts_with("expression `missing`: 'missing' is undefined"),
            "{err}"
        );
        let err = t.eval_bool("n > 1 and other", &v).unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("other"));
    }

    #[test]
    fn eval_all_ands_and_stops_at_first_false() {
        let t = Templates::new();
        let v = vars(json!({"a": 1}));
        assert!(t.eval_all(&["a == 1", "a is defined"], &v).unwrap());
        assert!(!t.eval_all(&["b is defined", "b > 1"], &v).unwrap());
        assert!(t.eval_all::<&str>(&[], &v).unwrap());
    }

    #[test]
    fn eval_returns_typed_values() {
        let t = Templates::new();
        let v = vars(json!({"a": [3, 1, 2]}));
        assert_eq!(t.eval("a | sort", &v).unwrap(), json!([1, 2, 3]));
        assert_eq!(t.eval("a | length > 2", &v).unwrap(), json!(true));
        assert_eq!(t.eval("none", &v).unwrap(), json!(null));
        assert!(
            t.eval("a |", &v)
                .unwrap_err()
                .message
                .contains("syntax error")
        );
    }

    #[test]
    fn templated_variables_are_rendered_when_used() {
        // As in peer-bench's playbook: `bench_host: "{{ inventory_hostname }}"`.
        let t = Templates::new();
        let v = vars(json!({
            "inventory_hostname": "web1",
            "bench_host": "{{ inventory_hostname }}",
            "port": 8080,
            "listen": "{{ bench_host }}:{{ port }}",
            "port_copy": "{{ port }}",
            "urls": ["http://{{ listen }}/"],
            "broken": "{{ nowhere }}",
        }));
        assert_eq!(
            t.render_file("t.j2", "{{ listen }} {{ urls[0] }}\n", &v)
                .unwrap(),
            "web1:8080 http://web1:8080/\n"
        );
        assert_eq!(t.eval("port_copy + 1", &v).unwrap(), json!(8081));
        assert_eq!(
            t.render_value(&json!("{{ bench_host | upper }}"), &v)
                .unwrap(),
            json!("WEB1")
        );
        // An unused broken variable is no error; a used one says which.
        let err = t.render_file("t.j2", "{{ broken }}", &v).unwrap_err();
        assert!(
            err.message
                .starts_with("in variable `broken`: 'nowhere' is undefined"),
            "{err}"
        );
        let cyclic = vars(json!({"a": "{{ b }}", "b": "{{ a }}"}));
        let err = t.render_file("t.j2", "{{ a }}", &cyclic).unwrap_err();
        assert!(
            err.to_string()
                .contains("refers to itself (`a` -> `b` -> `a`)"),
            "{err}"
        );
    }

    /// The fleet benchmark's template: Ansible renders it byte-identically,
    /// so this is our compatibility check.
    #[test]
    fn renders_the_peer_bench_template_like_ansible() {
        let source = include_str!("../../tests/data/app.conf.j2");
        let v = vars(json!({
            "bench_host": "host12", "bench_group": "web",
            "bench_address": "127.0.0.13", "root_dir": "/tmp/run/hosts/host12",
        }));
        let expected = "\
# host12 -- rendered by the fleet benchmark; do not edit
# (block tags use \"-%}\" so Ansible (trim_blocks=True) and plain Jinja2 (pyinfra) render identically)
[server]
name = host12
group = web
listen = 127.0.0.13:8080
root = /tmp/run/hosts/host12
workers = 5

[upstreams]
backend1 = web-1.internal:9001
backend2 = web-2.internal:9002
backend3 = web-3.internal:9003
# end
";
        assert_eq!(
            Templates::new()
                .render_file("app.conf.j2", source, &v)
                .unwrap(),
            expected
        );
    }
}
