//! A configuration file read into a [`Config`], key by key in the order a
//! derived serde reader takes a table's keys (sorted), so each error is
//! the one, at the place and in the words such a reader gives. The rules'
//! parts (`[rules]`, `[thresholds.<id>]`, `[roles.<id>]`) come from the
//! registry; each rule reads its own tables.

use super::{Config, RoleConfig, RulesConfig, Thresholds};
use crate::detect::registry::{Registered, Registry};
use crate::detect::rule::AnyThresholds;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::ops::Range;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// What is wrong, and where in the text (byte offsets).
pub(super) struct Fault {
    pub span: Range<usize>,
    pub message: String,
}

impl From<toml::de::Error> for Fault {
    fn from(e: toml::de::Error) -> Self {
        Fault {
            span: e.span().unwrap_or(0..0),
            message: e.message().to_string(),
        }
    }
}

type Key<'i> = Spanned<DeString<'i>>;
type Value<'i> = Spanned<DeValue<'i>>;

/// The top-level keys, in the order a derived reader lists them.
const CONFIG_KEYS: &[&str] = &[
    "home_net",
    "window_secs",
    "baseline",
    "prevalence",
    "rules",
    "thresholds",
    "roles",
    "allowlist",
    "linux",
    "alerts",
    "sensor",
    "listener",
];

/// A role's keys besides the rules'.
const ROLE_KEYS: &[&str] = &["name", "hosts", "cidrs"];

/// A role's table for one rule, checked, waiting for `[thresholds]`.
struct RoleTable<'r> {
    role: usize,
    rule: &'r Registered,
    span: Range<usize>,
    /// The keys the role sets.
    keys: Vec<String>,
    /// Its table read alone (keys it leaves out at their defaults).
    own: AnyThresholds,
}

/// Reads `text` with the rules of `registry`; keys left out keep their
/// defaults.
pub(super) fn document<'r>(text: &str, registry: &'r Registry) -> Result<Config, Fault> {
    let root = DeTable::parse(text)?;
    let mut c = Config::for_rules(registry);
    let mut role_tables: Vec<RoleTable<'r>> = Vec::new();
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "home_net" => c.home_net = typed(value)?,
            "window_secs" => c.window_secs = typed(value)?,
            "baseline" => c.baseline = typed(value)?,
            "prevalence" => c.prevalence = typed(value)?,
            "rules" => rules_table(value, registry, &mut c.rules)?,
            "thresholds" => thresholds_table(value, registry, &mut c.thresholds)?,
            "roles" => c.roles = roles(value, registry, &mut role_tables)?,
            "allowlist" => c.allowlist = typed(value)?,
            "linux" => c.linux = typed(value)?,
            "alerts" => c.alerts = typed(value)?,
            "sensor" => c.sensor = typed(value)?,
            "listener" => c.listener = typed(value)?,
            _ => return Err(unknown(&key, CONFIG_KEYS)),
        }
    }
    for t in role_tables {
        apply_role_table(&mut c, t)?;
    }
    Ok(c)
}

/// A value of a type serde reads on its own.
fn typed<T: DeserializeOwned>(value: Value<'_>) -> Result<T, Fault> {
    let span = value.span();
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| at(e, span))
}

/// `e`, placed at `span` when it does not say where it is.
fn at(e: toml::de::Error, span: Range<usize>) -> Fault {
    Fault {
        span: e.span().unwrap_or(span),
        message: e.message().to_string(),
    }
}

/// A key the table does not have, in serde's words.
fn unknown(key: &Key<'_>, expected: &[&str]) -> Fault {
    Fault {
        span: key.span(),
        message: unknown_field(key.get_ref(), expected),
    }
}

/// serde's message for a field a struct does not have.
fn unknown_field(field: &str, expected: &[&str]) -> String {
    match expected {
        [] => format!("unknown field `{field}`, there are no fields"),
        [one] => format!("unknown field `{field}`, expected `{one}`"),
        [a, b] => format!("unknown field `{field}`, expected `{a}` or `{b}`"),
        more => {
            let names: Vec<String> = more.iter().map(|n| format!("`{n}`")).collect();
            format!(
                "unknown field `{field}`, expected one of {}",
                names.join(", ")
            )
        }
    }
}

/// What a struct-like value holds: a table, or (as a derived reader also
/// takes) a list of its fields in declaration order.
enum Entries<'i> {
    Table(DeTable<'i>),
    List(std::vec::IntoIter<Value<'i>>),
}

/// The entries of `value`; anything else is refused as a derived reader
/// of a struct with `fields` refuses it.
fn entries<'i>(value: Value<'i>, expecting: &str, fields: &[&str]) -> Result<Entries<'i>, Fault> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => Ok(Entries::Table(t)),
        DeValue::Array(a) => Ok(Entries::List(a.into_iter().collect::<Vec<_>>().into_iter())),
        other => Err(refuse(Spanned::new(span, other), expecting, Some(fields))),
    }
}

/// serde's message for a list too short for a struct.
fn too_short(span: Range<usize>, len: usize, expecting: &str, fields: usize) -> Fault {
    Fault {
        span,
        message: format!("invalid length {len}, expected {expecting} with {fields} elements"),
    }
}

fn refuse(value: Value<'_>, expecting: &str, fields: Option<&[&str]>) -> Fault {
    let span = value.span();
    match ValueDeserializer::from(value).deserialize_any(Refuse { expecting, fields }) {
        Err(e) => at(e, span),
        Ok(()) => Fault {
            span,
            message: format!("expected {expecting}"),
        },
    }
}

/// A visitor that takes nothing: its errors are serde's "invalid type"
/// ones; a map (a date reads as one) is refused at its first key.
struct Refuse<'a> {
    expecting: &'a str,
    fields: Option<&'a [&'a str]>,
}

impl<'de> Visitor<'de> for Refuse<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(fields) = self.fields else {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        };
        match map.next_key::<String>()? {
            Some(k) => Err(de::Error::custom(unknown_field(&k, fields))),
            None => Ok(()),
        }
    }
}

/// `[rules]`: a switch per rule, and `all_platforms`.
fn rules_table(value: Value<'_>, registry: &Registry, into: &mut RulesConfig) -> Result<(), Fault> {
    let mut fields: Vec<&str> = registry.keys().collect();
    fields.push("all_platforms");
    let table = match entries(value, "struct RulesConfig", &fields)? {
        Entries::Table(t) => t,
        Entries::List(mut list) => {
            for rule in registry.iter() {
                let Some(v) = list.next() else { return Ok(()) };
                into.enabled.insert(rule.key().to_string(), typed(v)?);
            }
            if let Some(v) = list.next() {
                into.all_platforms = typed(v)?;
            }
            return Ok(());
        }
    };
    for (key, value) in table {
        let name: &str = key.get_ref();
        if name == "all_platforms" {
            into.all_platforms = typed(value)?;
        } else if let Some(rule) = registry.find(name) {
            into.enabled.insert(rule.key().to_string(), typed(value)?);
        } else {
            return Err(unknown(&key, &fields));
        }
    }
    Ok(())
}

/// `[thresholds]`: a table per rule, each read by its rule.
fn thresholds_table(
    value: Value<'_>,
    registry: &Registry,
    into: &mut Thresholds,
) -> Result<(), Fault> {
    let fields: Vec<&str> = registry.keys().collect();
    let table = match entries(value, "struct Thresholds", &fields)? {
        Entries::Table(t) => t,
        Entries::List(list) => {
            for (rule, v) in registry.iter().zip(list) {
                into.insert(rule.key(), read_rule_table(rule, v, "Thresholds")?);
            }
            return Ok(());
        }
    };
    for (key, value) in table {
        let Some(rule) = registry.find(key.get_ref()) else {
            return Err(unknown(&key, &fields));
        };
        into.insert(rule.key(), read_rule_table(rule, value, "Thresholds")?);
    }
    Ok(())
}

/// A rule's table, read by the rule.
fn read_rule_table(
    rule: &Registered,
    value: Value<'_>,
    suffix: &str,
) -> Result<AnyThresholds, Fault> {
    let span = value.span();
    rule.read_thresholds(ValueDeserializer::from(value), &rule.expecting(suffix))
        .map_err(|e| at(e, span))
}

/// `[[roles]]`.
fn roles<'r>(
    value: Value<'_>,
    registry: &'r Registry,
    role_tables: &mut Vec<RoleTable<'r>>,
) -> Result<Vec<RoleConfig>, Fault> {
    let span = value.span();
    let entries = match value.into_inner() {
        DeValue::Array(a) => a,
        other => return Err(refuse(Spanned::new(span, other), "a sequence", None)),
    };
    let mut roles = Vec::with_capacity(entries.len());
    for entry in entries {
        roles.push(role(entry, roles.len(), registry, role_tables)?);
    }
    Ok(roles)
}

/// One `[[roles]]` entry; its rule tables go to `role_tables`.
fn role<'r>(
    value: Value<'_>,
    index: usize,
    registry: &'r Registry,
    role_tables: &mut Vec<RoleTable<'r>>,
) -> Result<RoleConfig, Fault> {
    let span = value.span();
    let fields: Vec<&str> = ROLE_KEYS.iter().copied().chain(registry.keys()).collect();
    let mut role = RoleConfig {
        name: String::new(),
        hosts: Vec::new(),
        cidrs: Vec::new(),
        thresholds: Thresholds::default(),
    };
    let table = match entries(value, "struct RoleConfig", &fields)? {
        Entries::Table(t) => t,
        Entries::List(list) => {
            let whole = (span, fields.len());
            role_list(&mut role, list, whole, index, registry, role_tables)?;
            return Ok(role);
        }
    };
    let mut named = false;
    for (key, value) in table {
        match key.get_ref().as_ref() {
            "name" => (role.name, named) = (typed(value)?, true),
            "hosts" => role.hosts = typed(value)?,
            "cidrs" => role.cidrs = typed(value)?,
            other => match registry.find(other) {
                Some(rule) => role_tables.push(role_table(index, rule, value)?),
                None => return Err(unknown(&key, &fields)),
            },
        }
    }
    if !named {
        return Err(Fault {
            span,
            message: "missing field `name`".to_string(),
        });
    }
    Ok(role)
}

/// A role written as a list of its fields in order: name, hosts, cidrs,
/// then each rule's table; `span` is the list's, `fields` how many it may
/// give.
fn role_list<'r>(
    role: &mut RoleConfig,
    mut list: std::vec::IntoIter<Value<'_>>,
    (span, fields): (Range<usize>, usize),
    index: usize,
    registry: &'r Registry,
    role_tables: &mut Vec<RoleTable<'r>>,
) -> Result<(), Fault> {
    let Some(name) = list.next() else {
        return Err(too_short(span, 0, "struct RoleConfig", fields));
    };
    role.name = typed(name)?;
    if let Some(v) = list.next() {
        role.hosts = typed(v)?;
    }
    if let Some(v) = list.next() {
        role.cidrs = typed(v)?;
    }
    for (rule, v) in registry.iter().zip(list) {
        role_tables.push(role_table(index, rule, v)?);
    }
    Ok(())
}

/// `[roles.<id>]`, checked on its own. Written as a list, it must give
/// every key (the keys of a role's table are each optional, not
/// defaulted).
fn role_table<'r>(
    role: usize,
    rule: &'r Registered,
    value: Value<'_>,
) -> Result<RoleTable<'r>, Fault> {
    let span = value.span();
    let all = rule.threshold_keys();
    let (keys, short): (Vec<String>, Option<usize>) = match value.get_ref() {
        DeValue::Table(t) => (t.keys().map(|k| k.get_ref().to_string()).collect(), None),
        DeValue::Array(a) => (
            all.iter().take(a.len()).map(|k| k.to_string()).collect(),
            Some(a.len()).filter(|&n| n < all.len()),
        ),
        _ => (Vec::new(), None),
    };
    let own = read_rule_table(rule, value, "Overrides")?;
    if let Some(len) = short {
        return Err(too_short(
            span,
            len,
            &rule.expecting("Overrides"),
            all.len(),
        ));
    }
    Ok(RoleTable {
        role,
        rule,
        span,
        keys,
        own,
    })
}

/// A role's thresholds for a rule: `[thresholds.<id>]` with the keys the
/// role sets taken from its own table.
fn apply_role_table(c: &mut Config, t: RoleTable<'_>) -> Result<(), Fault> {
    let fail = |message: String| Fault {
        span: t.span.clone(),
        message,
    };
    let base = match c.thresholds.any(t.rule.key()) {
        Some(base) => base.clone(),
        None => t.rule.default_thresholds(),
    };
    let mut merged = base.to_table().map_err(|e| fail(e.to_string()))?;
    let own = t.own.to_table().map_err(|e| fail(e.to_string()))?;
    for key in &t.keys {
        if let Some(v) = own.get(key) {
            merged.insert(key.clone(), v.clone());
        }
    }
    let resolved = t
        .rule
        .thresholds_from_table(merged)
        .map_err(|e| fail(e.message().to_string()))?;
    if let Some(role) = c.roles.get_mut(t.role) {
        role.thresholds.insert(t.rule.key(), resolved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unknown_field;
    use serde::de::Error as _;

    #[test]
    fn unknown_fields_read_as_serde_words_them() {
        const LISTS: [&[&str]; 4] = [&[], &["a"], &["a", "b"], &["a", "b", "c"]];
        for list in LISTS {
            let serde_says = toml::de::Error::unknown_field("x", list);
            assert_eq!(unknown_field("x", list), serde_says.message());
        }
    }
}
