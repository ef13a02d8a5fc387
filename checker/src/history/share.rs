//! Sharing list reads between ops: each key's longest read, gathered in a
//! first pass over a history file, lets a second pass store every other
//! read of the key that is a prefix of it as a part of that one list
//! ([`Seq::prefix`]). A key appended to 10,000 times and read 10,000 times
//! then holds 10,000 elements, not 50 million. Both single-key histories
//! (`read` ops of list keys) and transactions (`r` micro-ops) share so.

use std::collections::HashMap;

use super::{Event, EventType, Seq, Value};

/// Each key's longest committed list read.
#[derive(Default)]
pub struct LongestReads(HashMap<Value, Seq, ahash::RandomState>);

impl LongestReads {
    /// Takes one event of the first pass. Events that are not committed
    /// list reads are passed over: the second pass judges them.
    pub fn add(&mut self, e: &Event) {
        let EventType::Ok = e.kind else { return };
        match (e.f.as_str(), &e.key, &e.value) {
            ("read", Some(key), Value::List(l)) => self.offer(key, l),
            ("txn", _, Value::List(ops)) => {
                for m in ops.iter() {
                    if let Value::List(parts) = m {
                        if let [Value::Str(f), key, Value::List(l)] = &parts[..] {
                            if &**f == "r" {
                                self.offer(key, l);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn offer(&mut self, key: &Value, l: &Seq) {
        if self.0.get(key).is_none_or(|o| o.len() < l.len()) {
            self.0.insert(key.clone(), l.clone());
        }
    }

    /// Makes `l`, a read of `key`, a part of the key's longest read when it
    /// is a prefix of it.
    pub fn share(&self, key: &Value, l: &mut Seq) {
        if let Some(all) = self.0.get(key).filter(|all| all.has_prefix(l)) {
            *l = all.prefix(l.len());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_line;

    #[test]
    fn a_read_shares_its_keys_longest_read_only_when_it_is_a_prefix_of_it() {
        let mut lists = LongestReads::default();
        for line in [
            r#"{"process":0,"type":"ok","f":"read","key":1,"value":[1,2]}"#,
            r#"{"process":0,"type":"ok","f":"read","key":1,"value":[1,2,3]}"#,
            r#"{"process":0,"type":"info","f":"read","key":1,"value":[1,2,3,4]}"#,
            r#"{"process":0,"type":"ok","f":"read","key":2,"value":[9]}"#,
        ] {
            lists.add(&parse_line(line, 1).unwrap());
        }
        let ints = |v: &[i64]| -> Seq { v.iter().map(|&i| Value::Int(i)).collect() };
        let mut prefix = ints(&[1, 2]);
        lists.share(&Value::Int(1), &mut prefix);
        assert_eq!(prefix, ints(&[1, 2]));
        let mut other = ints(&[1, 3]);
        lists.share(&Value::Int(1), &mut other);
        assert_eq!(other, ints(&[1, 3]), "a read that is no prefix keeps what it holds");
        let mut elsewhere = ints(&[1]);
        lists.share(&Value::Int(2), &mut elsewhere);
        assert_eq!(elsewhere, ints(&[1]), "another key's list is not shared");
        // The prefix now lives in the longest read's buffer.
        let mut again = ints(&[1, 2]);
        lists.share(&Value::Int(1), &mut again);
        let stored = &lists.0[&Value::Int(1)];
        assert_eq!(**stored, *ints(&[1, 2, 3]), "the info read is not a committed one");
        assert!(Seq::same(&stored.prefix(2), &again));
    }
}
