//! [`Value`]: keys and values as the history carries them, and their JSON
//! form.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A key or a value: an integer, a string, null (absent), or a list (what a
/// list-append read returns; also a cas's `[expected, new]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    #[default]
    Nil,
    Int(i64),
    Str(Box<str>),
    List(Seq),
}

/// A list: the first `len` elements of a buffer that other lists may
/// share. A list key's reads mostly return prefixes of one another, so a
/// loader that knows each key's longest read makes the others prefixes of
/// it ([`Seq::prefix`]): a history's lists then cost memory in proportion
/// to its keys' lengths, not to every read's (a key of 10,000 appends read
/// 10,000 times would otherwise hold 50 million elements).
#[derive(Clone)]
pub struct Seq {
    all: Arc<Vec<Value>>,
    len: u32,
}

impl Seq {
    /// The first `len` elements of this list, sharing its buffer.
    pub fn prefix(&self, len: usize) -> Seq {
        assert!(len <= self.len as usize, "a prefix of {} elements is no longer than its list", self.len);
        Seq { all: self.all.clone(), len: len as u32 }
    }

    /// Whether `p` is a prefix of this list: at once when both are
    /// prefixes of one buffer.
    pub fn has_prefix(&self, p: &Seq) -> bool {
        p.len <= self.len && (Arc::ptr_eq(&self.all, &p.all) || self.starts_with(p))
    }

    /// Whether both are the same prefix of one buffer (then equal, without
    /// comparing elements).
    pub fn same(a: &Seq, b: &Seq) -> bool {
        Arc::ptr_eq(&a.all, &b.all) && a.len == b.len
    }
}

impl std::ops::Deref for Seq {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        &self.all[..self.len as usize]
    }
}

impl From<Vec<Value>> for Seq {
    fn from(v: Vec<Value>) -> Seq {
        let len = u32::try_from(v.len()).expect("a list holds fewer than 2^32 elements");
        Seq { all: Arc::new(v), len }
    }
}

impl From<&[Value]> for Seq {
    fn from(v: &[Value]) -> Seq {
        v.to_vec().into()
    }
}

impl FromIterator<Value> for Seq {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Seq {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl Default for Seq {
    fn default() -> Seq {
        Vec::new().into()
    }
}

impl PartialEq for Seq {
    fn eq(&self, other: &Seq) -> bool {
        Seq::same(self, other) || **self == **other
    }
}

impl Eq for Seq {}

impl std::hash::Hash for Seq {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Seq) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Seq {
    fn cmp(&self, other: &Seq) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_none(),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(v) => s.serialize_str(v),
            Value::List(l) => (**l).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer, a string, null or a list")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v).map(Value::Int).map_err(|_| E::custom(format!("integer {v} does not fit in 64 bits")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::List(out.into()))
            }
        }
        d.deserialize_any(V)
    }
}
