//! The dependency graph between transactions: its edges (Adya's
//! write-write, write-read and read-write dependencies, plus real-time and
//! process order), its strongly connected components (Tarjan's, without
//! recursion, so a million transactions do not overflow the stack), and
//! the shortest cycle of each anomaly class inside a component, found by
//! breadth-first search from one edge back to its start.
//!
//! Every cycle lies inside one component, so a history whose components
//! are all single transactions (every serializable one) costs one linear
//! pass and no search.

use std::collections::{HashMap, VecDeque};

use super::anomaly::Class;
use super::TxnId;

/// Edge kinds, as bits so that one edge can carry several.
pub const WW: u8 = 1;
pub const WR: u8 = 2;
pub const RW: u8 = 4;
pub const RT: u8 = 8;
pub const PROC: u8 = 16;
const DATA: u8 = WW | WR | RW;

/// One edge: to a transaction, of one kind, with what justifies it: the
/// key (an index into the analysis's keys) and a position in that key's
/// version order (ww: the source's element; wr: the last element read;
/// rw: the element the reader missed). Real-time and process edges carry
/// neither.
///
/// Packed (13 bytes, not 16): a history of ten million transactions has
/// some ninety million edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct Edge {
    pub to: u32,
    pub kind: u8,
    pub key: u32,
    pub pos: u32,
}

/// One step of a cycle: from a transaction, along an edge.
pub type Step = (TxnId, Edge);

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub out: Vec<Vec<Edge>>,
}

/// At most this many edges are tried as a cycle's first edge, per class
/// and component: each try is one search of the component.
const MAX_TRIES: usize = 32;

impl Graph {
    pub fn new(n: usize) -> Graph {
        Graph { out: vec![Vec::new(); n] }
    }

    pub fn add(&mut self, from: TxnId, to: TxnId, kind: u8, key: u32, pos: u32) {
        if from != to {
            self.out[from].push(Edge { to: to as u32, kind, key, pos });
        }
    }

    pub fn edges(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Strongly connected components: each node's component number, and
    /// the components of more than one node.
    pub fn sccs(&self) -> (Vec<u32>, Vec<Vec<TxnId>>) {
        const UNSEEN: u32 = u32::MAX;
        let n = self.out.len();
        let (mut index, mut low, mut comp) = (vec![UNSEEN; n], vec![0u32; n], vec![UNSEEN; n]);
        let mut on_stack = vec![false; n];
        let (mut stack, mut next, mut comps, mut count) = (Vec::new(), 0u32, Vec::new(), 0u32);
        // The explicit call stack: a node and how many of its edges are done.
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if index[root] != UNSEEN {
                continue;
            }
            calls.push((root, 0));
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut i)) = calls.last_mut() {
                if let Some(e) = self.out[v].get(*i) {
                    *i += 1;
                    let w = e.to as usize;
                    if index[w] == UNSEEN {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut members = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        on_stack[w] = false;
                        comp[w] = count;
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if members.len() > 1 {
                        members.sort_unstable();
                        comps.push(members);
                    }
                    count += 1;
                }
            }
        }
        (comp, comps)
    }

    /// The shortest path from `from` to `to` inside component `c`, along
    /// edges of the `allowed` kinds.
    fn path(&self, from: TxnId, to: TxnId, allowed: u8, comp: &[u32], c: u32) -> Option<Vec<Step>> {
        let mut parent: HashMap<TxnId, Step> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = std::collections::HashSet::from([from]);
        while let Some(v) = queue.pop_front() {
            if v == to {
                let mut steps = Vec::new();
                let mut at = to;
                while at != from {
                    let step = parent[&at];
                    at = step.0;
                    steps.push(step);
                }
                steps.reverse();
                return Some(steps);
            }
            for e in &self.out[v] {
                let w = e.to as usize;
                if e.kind & allowed != 0 && comp[w] == c && seen.insert(w) {
                    parent.insert(w, (v, *e));
                    queue.push_back(w);
                }
            }
        }
        None
    }

    /// The shortest cycle found that starts with an edge of a `first` kind
    /// and returns along `allowed` kinds, and satisfies `keep`.
    fn shortest(
        &self,
        members: &[TxnId],
        comp: &[u32],
        c: u32,
        first: u8,
        allowed: u8,
        keep: impl Fn(&[Step]) -> bool,
    ) -> Option<Vec<Step>> {
        let mut best: Option<Vec<Step>> = None;
        let starts = members
            .iter()
            .flat_map(|&a| self.out[a].iter().map(move |e| (a, *e)))
            .filter(|(_, e)| e.kind & first != 0 && comp[e.to as usize] == c)
            .take(MAX_TRIES);
        for (a, e) in starts {
            let Some(back) = self.path(e.to as usize, a, allowed, comp, c) else { continue };
            let mut cycle = vec![(a, Edge { kind: e.kind & first, ..e })];
            cycle.extend(back);
            if keep(&cycle) && best.as_ref().is_none_or(|b| cycle.len() < b.len()) {
                best = Some(cycle);
            }
        }
        best
    }

    /// The anomalies inside one component: the shortest cycle of each
    /// class found there. A real-time or process variant is reported only
    /// when the component has no cycle of the same class without such
    /// edges.
    pub fn cycles(&self, members: &[TxnId], comp: &[u32], c: u32) -> Vec<(Class, Vec<Step>)> {
        let count = |cycle: &[Step], kind: u8| cycle.iter().filter(|(_, e)| e.kind & kind != 0).count();
        let mut found = Vec::new();
        let base =
            [(Class::G0, WW, WW), (Class::G1c, WR, WW | WR), (Class::GSingle, RW, WW | WR), (Class::G2Item, RW, DATA)];
        for (class, first, allowed) in base {
            let keep = |cy: &[Step]| class != Class::G2Item || count(cy, RW) >= 2;
            if let Some(cycle) = self.shortest(members, comp, c, first, allowed, keep) {
                found.push((class, cycle));
            }
        }
        for (order, allowed) in [(RT, DATA | RT | PROC), (PROC, DATA | PROC)] {
            if let Some(cycle) = self.shortest(members, comp, c, order, allowed, |_| true) {
                let class = classify(&cycle);
                if !found.iter().any(|(f, _)| f.base() == class.base()) {
                    found.push((class, cycle));
                }
            }
        }
        found
    }
}

/// The class of a cycle, by the kinds of its edges: Adya's, from the
/// anti-dependencies (none: G0 or G1c; one: G-single; more: G2-item), with
/// a real-time or process suffix when it needs those edges.
pub fn classify(cycle: &[Step]) -> Class {
    let has = |kind: u8| cycle.iter().filter(|(_, e)| e.kind & kind != 0).count();
    let base = match (has(RW), has(WR)) {
        (0, 0) => Class::G0,
        (0, _) => Class::G1c,
        (1, _) => Class::GSingle,
        _ => Class::G2Item,
    };
    if has(RT) > 0 {
        base.realtime()
    } else if has(PROC) > 0 {
        base.process()
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_the_shortest_cycle_of_each_class() {
        // 0 -ww-> 1 -wr-> 2 -rw-> 0, and 1 -ww-> 0: a G0 of two steps and a
        // G-single of three. No G1c (from 2 the only way back is rw), and
        // no G2-item (no cycle has two rw edges). Node 3 is outside.
        let mut g = Graph::new(4);
        g.add(0, 1, WW, 0, 0);
        g.add(1, 2, WR, 0, 1);
        g.add(2, 0, RW, 0, 0);
        g.add(1, 0, WW, 1, 0);
        g.add(3, 0, RT, 0, 0);
        let (comp, comps) = g.sccs();
        assert_eq!(comps, vec![vec![0, 1, 2]]);
        assert_ne!(comp[3], comp[0]);
        let found = g.cycles(&comps[0], &comp, comp[0]);
        let classes: Vec<Class> = found.iter().map(|(c, _)| *c).collect();
        assert_eq!(classes, vec![Class::G0, Class::GSingle]);
        assert_eq!(found[0].1.len(), 2);
        assert_eq!(found[1].1.len(), 3);
    }

    #[test]
    fn a_cycle_that_needs_real_time_is_named_so() {
        let mut g = Graph::new(2);
        g.add(0, 1, RW, 0, 0);
        g.add(1, 0, RT, 0, 0);
        let (comp, comps) = g.sccs();
        let found = g.cycles(&comps[0], &comp, comp[0]);
        assert_eq!(found.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![Class::GSingleRealtime]);
    }

    #[test]
    fn a_long_chain_has_no_component_and_does_not_overflow() {
        let n = 1_000_000;
        let mut g = Graph::new(n);
        for i in 0..n - 1 {
            g.add(i, i + 1, WW, 0, 0);
        }
        assert!(g.sccs().1.is_empty());
        g.add(n - 1, 0, WR, 0, 0);
        assert_eq!(g.sccs().1[0].len(), n);
    }
}
