//! The list of rules: the one place a rule is registered. The detector,
//! the configuration (`[rules]`, `[thresholds.<id>]`, `[roles.<id>]`),
//! the run summary and the live metrics all go through it.

use super::an0144::An0144;
use super::an0145::An0145;
use super::rule::{AnyThresholds, Context, ErasedRule, Rule};
use super::subject::Subject;
use crate::alert::Alert;
use crate::policy::Policy;
use std::fmt;
use std::sync::Arc;

/// Rules in the order they judge a window (and their alerts come out).
#[derive(Clone, Default)]
pub struct Registry {
    rules: Vec<Registered>,
}

impl Registry {
    /// The rules procflow runs. Adding a rule: one `.with(...)` here.
    pub fn builtin() -> Self {
        Registry::default().with(An0144).with(An0145)
    }

    /// This list and `rule` after it.
    ///
    /// # Panics
    ///
    /// When `rule`'s id is one already registered, or names another key
    /// of a `[rules]` or `[[roles]]` table (`all_platforms`, `name`,
    /// `hosts`, `cidrs`): a programming error, not a configuration one.
    pub fn with<R: Rule>(mut self, rule: R) -> Self {
        let key = rule.id().to_ascii_lowercase();
        assert!(
            self.find(&key).is_none() && !RESERVED_KEYS.contains(&key.as_str()),
            "rule id {} is taken",
            rule.id()
        );
        self.rules.push(Registered {
            id: rule.id(),
            metric_label: rule.metric_label(),
            enabled_by_default: rule.enabled_by_default(),
            key,
            threshold_keys: rule.threshold_keys(),
            rule: Arc::new(rule),
        });
        self
    }

    /// The rules, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Registered> {
        self.rules.iter()
    }

    /// The rule whose configuration key (lower-case id) is `key`.
    pub fn find(&self, key: &str) -> Option<&Registered> {
        self.rules.iter().find(|r| r.key == key)
    }

    /// The configuration keys (lower-case ids), in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.key.as_str())
    }

    /// Rules registered.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule is registered.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| r.id))
            .finish()
    }
}

/// Keys of the tables rules share, which no rule id may take.
const RESERVED_KEYS: &[&str] = &["all_platforms", "name", "hosts", "cidrs"];

/// One registered rule.
#[derive(Clone)]
pub struct Registered {
    id: &'static str,
    key: String,
    metric_label: &'static str,
    enabled_by_default: bool,
    threshold_keys: &'static [&'static str],
    rule: Arc<dyn ErasedRule>,
}

impl Registered {
    /// The id alerts carry ("AN0144").
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The configuration key: the id in lower case ("an0144").
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `rule` label of its metrics.
    pub fn metric_label(&self) -> &'static str {
        self.metric_label
    }

    /// Whether it runs when `[rules]` does not say.
    pub fn enabled_by_default(&self) -> bool {
        self.enabled_by_default
    }

    /// Its default thresholds.
    pub fn default_thresholds(&self) -> AnyThresholds {
        self.rule.default_thresholds()
    }

    /// The keys of its thresholds table, in declaration order.
    pub fn threshold_keys(&self) -> &'static [&'static str] {
        self.threshold_keys
    }

    /// What a thresholds table of this rule is called in errors, as a
    /// derived reader of `{Id}{suffix}` would say it ("struct
    /// An0144Thresholds").
    pub(crate) fn expecting(&self, suffix: &str) -> String {
        let mut chars = self.key.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        format!(
            "struct {}{}{suffix}",
            first.map(String::from).unwrap_or_default(),
            chars.as_str()
        )
    }

    pub(crate) fn read_thresholds(
        &self,
        value: toml::de::ValueDeserializer<'_>,
        expecting: &str,
    ) -> Result<AnyThresholds, toml::de::Error> {
        self.rule.read_thresholds(value, expecting)
    }

    pub(crate) fn thresholds_from_table(
        &self,
        table: toml::Table,
    ) -> Result<AnyThresholds, toml::de::Error> {
        self.rule.thresholds_from_table(table)
    }

    pub(crate) fn applies(&self, s: &Subject, policy: &Policy) -> bool {
        self.rule.applies_to(s, policy)
    }

    pub(crate) fn judge(&self, s: &Subject, t: &AnyThresholds, cx: &Context, out: &mut Vec<Alert>) {
        self.rule.judge_window(s, t, cx, out);
    }
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}
