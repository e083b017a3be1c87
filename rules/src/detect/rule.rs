//! The interface of a detection rule, and the type-erased form the
//! [`Registry`](super::registry::Registry) keeps it in.
//!
//! A rule is a type implementing [`Rule`]: its id, its thresholds type
//! (read from `[thresholds.<id>]` and, per host role, `[roles.<id>]`),
//! whether it looks at a window, and the alerts it raises. The registry
//! wraps each rule so the configuration loader, the policy and the
//! detector handle every rule alike, without naming any.

use super::subject::Subject;
use crate::alert::Alert;
use crate::baseline::Baseline;
use crate::policy::Policy;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

/// What a rule's thresholds type must be: read from a TOML table (make it
/// `#[serde(deny_unknown_fields, default)]` so a key may be left out and a
/// misspelt one is refused with its line), written back, compared.
pub trait RuleThresholds:
    Serialize + DeserializeOwned + Default + Clone + fmt::Debug + PartialEq + Send + Sync + 'static
{
}

impl<T> RuleThresholds for T where
    T: Serialize
        + DeserializeOwned
        + Default
        + Clone
        + fmt::Debug
        + PartialEq
        + Send
        + Sync
        + 'static
{
}

/// What a rule judges a window with, besides the window and its
/// thresholds.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The compiled configuration.
    pub policy: &'a Policy,
    /// The baseline as it stood before the window's batch.
    pub baseline: &'a Baseline,
    /// Window length (seconds), as reasons state it.
    pub window_secs: u64,
}

/// A detection rule.
///
/// Its configuration is `[rules] <id> = true|false` (on by default),
/// `[thresholds.<id>]` and `[roles.<id>]`, with `<id>` the id in lower
/// case; register it in [`Registry::builtin`](super::registry::Registry::builtin)
/// (or [`Registry::with`](super::registry::Registry::with)).
pub trait Rule: Send + Sync + 'static {
    /// The thresholds of one host role.
    type Thresholds: RuleThresholds;

    /// The id alerts carry ("AN0144"); lower-cased, it names the rule's
    /// configuration keys.
    fn id(&self) -> &'static str;

    /// The `rule` label of the rule's metrics; the id unless said.
    fn metric_label(&self) -> &'static str {
        self.id()
    }

    /// Whether the rule runs when `[rules]` does not say.
    fn enabled_by_default(&self) -> bool {
        true
    }

    /// Whether the rule looks at this window at all (its `[rules]` switch
    /// is checked before).
    fn applies(&self, s: &Subject, policy: &Policy) -> bool;

    /// The alerts this window raises, each with its reasons, pushed onto
    /// `out`.
    fn judge(&self, s: &Subject, t: &Self::Thresholds, cx: &Context, out: &mut Vec<Alert>);
}

/// A rule's thresholds, whatever the rule: what the configuration and the
/// host roles hold for each rule.
pub struct AnyThresholds(Box<dyn ErasedThresholds>);

impl AnyThresholds {
    /// Wraps typed thresholds.
    pub fn new<T: RuleThresholds>(t: T) -> Self {
        AnyThresholds(Box::new(t))
    }

    /// The thresholds, when they are a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    /// The thresholds as a TOML table, every key written.
    pub fn to_table(&self) -> Result<toml::Table, toml::ser::Error> {
        self.0.to_table()
    }
}

impl Clone for AnyThresholds {
    fn clone(&self) -> Self {
        AnyThresholds(self.0.boxed_clone())
    }
}

impl fmt::Debug for AnyThresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for AnyThresholds {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(other.0.as_any())
    }
}

impl Serialize for AnyThresholds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_table()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// The object form of [`RuleThresholds`].
trait ErasedThresholds: fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn boxed_clone(&self) -> Box<dyn ErasedThresholds>;
    fn same(&self, other: &dyn Any) -> bool;
    fn to_table(&self) -> Result<toml::Table, toml::ser::Error>;
}

impl<T: RuleThresholds> ErasedThresholds for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn boxed_clone(&self) -> Box<dyn ErasedThresholds> {
        Box::new(self.clone())
    }

    fn same(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }

    fn to_table(&self) -> Result<toml::Table, toml::ser::Error> {
        toml::Table::try_from(self)
    }
}

/// The object form of [`Rule`], for every rule: what the registry calls.
pub(crate) trait ErasedRule: Send + Sync {
    /// The rule's default thresholds.
    fn default_thresholds(&self) -> AnyThresholds;
    /// The keys of its thresholds table, in declaration order.
    fn threshold_keys(&self) -> &'static [&'static str];
    /// Thresholds read from a configuration table; `expecting` names what
    /// a value that is no table should have been.
    fn read_thresholds(
        &self,
        value: toml::de::ValueDeserializer<'_>,
        expecting: &str,
    ) -> Result<AnyThresholds, toml::de::Error>;
    /// Thresholds from a whole table (one built from checked parts).
    fn thresholds_from_table(&self, table: toml::Table) -> Result<AnyThresholds, toml::de::Error>;
    /// [`Rule::applies`].
    fn applies_to(&self, s: &Subject, policy: &Policy) -> bool;
    /// [`Rule::judge`], when `t` are this rule's thresholds.
    fn judge_window(&self, s: &Subject, t: &AnyThresholds, cx: &Context, out: &mut Vec<Alert>);
}

impl<R: Rule> ErasedRule for R {
    fn default_thresholds(&self) -> AnyThresholds {
        AnyThresholds::new(R::Thresholds::default())
    }

    fn threshold_keys(&self) -> &'static [&'static str] {
        struct_fields::<R::Thresholds>()
    }

    fn read_thresholds(
        &self,
        value: toml::de::ValueDeserializer<'_>,
        expecting: &str,
    ) -> Result<AnyThresholds, toml::de::Error> {
        let t = value.deserialize_any(Shaped::<R::Thresholds> {
            expecting,
            typed: PhantomData,
        })?;
        Ok(AnyThresholds::new(t))
    }

    fn thresholds_from_table(&self, table: toml::Table) -> Result<AnyThresholds, toml::de::Error> {
        Ok(AnyThresholds::new(table.try_into::<R::Thresholds>()?))
    }

    fn applies_to(&self, s: &Subject, policy: &Policy) -> bool {
        self.applies(s, policy)
    }

    fn judge_window(&self, s: &Subject, t: &AnyThresholds, cx: &Context, out: &mut Vec<Alert>) {
        if let Some(t) = t.get::<R::Thresholds>() {
            self.judge(s, t, cx, out);
        }
    }
}

/// Reads a `T` from a table (or an array, field by field, as a derived
/// reader does); anything else is refused as "expected {expecting}", so
/// the message names the rule's table whatever the type is called.
struct Shaped<'a, T> {
    expecting: &'a str,
    typed: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Shaped<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq))
    }
}

/// The field names a derived reader of `T` asks for (none when `T` is not
/// read as a struct).
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = FieldProbe { fields: &[] };
    // The probe always fails: it stops the reader at its first question.
    let _ = T::deserialize(&mut probe);
    probe.fields
}

/// A deserializer that only notes the fields a struct reader asks for.
struct FieldProbe {
    fields: &'static [&'static str],
}

/// How [`FieldProbe`] stops every reader.
#[derive(Debug)]
struct ProbeDone;

impl fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeDone {}

impl serde::de::Error for ProbeDone {
    fn custom<M: fmt::Display>(_: M) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for &mut FieldProbe {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeDone> {
        self.fields = fields;
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
