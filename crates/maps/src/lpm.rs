//! `lpm_trie` (`kernel/bpf/lpm_trie.c`): the kernel's binary trie with
//! intermediate nodes, so longest-prefix lookups and the post-order
//! `get_next_key` walk give the same answers as the kernel. Keys are
//! `struct bpf_lpm_trie_key_u8`: a native-endian `u32` prefix length then
//! the data bytes, most significant bit first.
//!
//! Values live in a slab and are updated in place; node structure sits
//! behind one reader-writer lock (lookups share it).

use crate::def::{BPF_EXIST, BPF_NOEXIST, round8};
use crate::error::{MapError, Result, check_len};
use crate::mem::{Slab, ValueRef, copy_to_shared};
use parking_lot::RwLock;
use std::ptr::NonNull;

const NIL: u32 = u32::MAX;

struct Node {
    child: [u32; 2],
    prefixlen: u32,
    intermediate: bool,
    data: Box<[u8]>,
    /// Value slot in the slab (meaningless for intermediate nodes).
    slot: u32,
}

struct Trie {
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    free_slots: Vec<u32>,
    next_slot: u32,
    root: u32,
    n_entries: u32,
}

/// A longest-prefix-match trie.
pub(crate) struct LpmTrie {
    data_size: usize,
    value_size: usize,
    max_prefixlen: u32,
    max_entries: u32,
    values: Slab,
    trie: RwLock<Trie>,
}

fn extract_bit(data: &[u8], index: u32) -> usize {
    data.get(index as usize / 8)
        .map_or(0, |b| usize::from(b >> (7 - index % 8) & 1))
}

impl LpmTrie {
    pub(crate) fn new(key_size: u32, value_size: u32, max_entries: u32) -> Result<LpmTrie> {
        let data_size = key_size.saturating_sub(4) as usize;
        Ok(LpmTrie {
            data_size,
            value_size: value_size as usize,
            max_prefixlen: data_size as u32 * 8,
            max_entries,
            values: Slab::new(round8(value_size) as usize, max_entries, false)?,
            trie: RwLock::new(Trie {
                nodes: Vec::new(),
                free_nodes: Vec::new(),
                free_slots: Vec::new(),
                next_slot: 0,
                root: NIL,
                n_entries: 0,
            }),
        })
    }

    fn split_key<'k>(&self, key: &'k [u8]) -> Result<(u32, &'k [u8])> {
        check_len("key", key, self.data_size + 4)?;
        let (len, data) = key.split_at(4);
        let mut b = [0u8; 4];
        b.copy_from_slice(len);
        Ok((u32::from_ne_bytes(b), data))
    }

    /// `longest_prefix_match`: bits shared by the node and the key, capped
    /// by both prefix lengths.
    fn match_len(&self, node: &Node, prefixlen: u32, data: &[u8]) -> u32 {
        let limit = node.prefixlen.min(prefixlen).min(self.max_prefixlen);
        let mut matched = 0;
        for (a, b) in node.data.iter().zip(data) {
            if matched >= limit {
                break;
            }
            let diff = a ^ b;
            if diff != 0 {
                matched += diff.leading_zeros();
                break;
            }
            matched += 8;
        }
        matched.min(limit)
    }

    fn value_ref(&self, slot: u32) -> Option<ValueRef> {
        NonNull::new(self.values.addr(slot)).map(|p| ValueRef::new(p, self.value_size))
    }

    /// `trie_lookup_elem`: the value of the longest stored prefix of the key.
    pub(crate) fn lookup(&self, key: &[u8]) -> Result<Option<ValueRef>> {
        let (prefixlen, data) = self.split_key(key)?;
        let trie = self.trie.read();
        let mut found = None;
        let mut cur = trie.root;
        while let Some(node) = trie.nodes.get(cur as usize) {
            let matched = self.match_len(node, prefixlen, data);
            if matched == self.max_prefixlen {
                found = Some(node.slot);
                break;
            }
            if matched < node.prefixlen {
                break;
            }
            if !node.intermediate {
                found = Some(node.slot);
            }
            cur = node.child[extract_bit(data, node.prefixlen)];
        }
        Ok(found.and_then(|s| self.value_ref(s)))
    }

    /// Host lookup: a copy of the matched value.
    pub(crate) fn sys_lookup(&self, key: &[u8]) -> Result<Vec<u8>> {
        let v = self.lookup(key)?.ok_or(MapError::NotFound)?;
        Ok(v.read())
    }

    fn write_slot(&self, slot: u32, value: &[u8]) {
        // SAFETY: slots handed out by `alloc_slot` are backed and value-sized.
        unsafe { copy_to_shared(self.values.addr(slot), value) };
    }

    fn alloc_slot(&self, trie: &mut Trie) -> Result<u32> {
        if let Some(s) = trie.free_slots.pop() {
            return Ok(s);
        }
        let s = trie.next_slot;
        self.values.ensure(s)?;
        trie.next_slot += 1;
        Ok(s)
    }

    fn alloc_node(trie: &mut Trie, node: Node) -> u32 {
        if let Some(i) = trie.free_nodes.pop()
            && let Some(n) = trie.nodes.get_mut(i as usize)
        {
            *n = node;
            return i;
        }
        trie.nodes.push(node);
        trie.nodes.len() as u32 - 1
    }

    fn free_node(trie: &mut Trie, i: u32) {
        if let Some(n) = trie.nodes.get_mut(i as usize) {
            if !n.intermediate {
                trie.free_slots.push(n.slot);
            }
            n.child = [NIL, NIL];
            n.intermediate = true;
            trie.free_nodes.push(i);
        }
    }

    /// `trie_check_add_elem`: counts a new entry or refuses it.
    fn add_entry(&self, trie: &mut Trie, flags: u64) -> Result<()> {
        if flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        if trie.n_entries == self.max_entries {
            return Err(MapError::NoSpace);
        }
        trie.n_entries += 1;
        Ok(())
    }

    fn node(trie: &Trie, i: u32) -> Result<&Node> {
        trie.nodes
            .get(i as usize)
            .ok_or(MapError::Invalid("corrupt trie link"))
    }

    /// Replaces the link that pointed at the node found at `path` end.
    fn set_link(trie: &mut Trie, parent: Option<(u32, usize)>, to: u32) {
        match parent {
            None => trie.root = to,
            Some((p, bit)) => {
                if let Some(n) = trie.nodes.get_mut(p as usize) {
                    n.child[bit] = to;
                }
            }
        }
    }

    /// `trie_update_elem`.
    pub(crate) fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        let (prefixlen, data) = self.split_key(key)?;
        check_len("value", value, self.value_size)?;
        if flags > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        if prefixlen > self.max_prefixlen {
            return Err(MapError::Invalid("prefix length beyond the key's data"));
        }
        let mut guard = self.trie.write();
        let trie = &mut *guard;
        let mut parent: Option<(u32, usize)> = None;
        let mut cur = trie.root;
        let mut matched = 0;
        while cur != NIL {
            let node = Self::node(trie, cur)?;
            matched = self.match_len(node, prefixlen, data);
            if node.prefixlen != matched || node.prefixlen == prefixlen {
                break;
            }
            let bit = extract_bit(data, node.prefixlen);
            parent = Some((cur, bit));
            cur = node.child[bit];
        }
        let new_node = |slot| Node {
            child: [NIL, NIL],
            prefixlen,
            intermediate: false,
            data: data.into(),
            slot,
        };
        if cur == NIL {
            self.add_entry(trie, flags)?;
            let slot = self.alloc_slot(trie)?;
            self.write_slot(slot, value);
            let n = Self::alloc_node(trie, new_node(slot));
            Self::set_link(trie, parent, n);
            return Ok(());
        }
        let (node_prefix, node_im, node_slot) = {
            let n = Self::node(trie, cur)?;
            (n.prefixlen, n.intermediate, n.slot)
        };
        if node_prefix == matched {
            // Exact match: overwrite an entry, or turn an intermediate node real.
            if !node_im {
                if flags == BPF_NOEXIST {
                    return Err(MapError::AlreadyExists);
                }
                self.write_slot(node_slot, value);
                if let Some(n) = trie.nodes.get_mut(cur as usize) {
                    n.data = data.into();
                }
                return Ok(());
            }
            self.add_entry(trie, flags)?;
            let slot = self.alloc_slot(trie)?;
            self.write_slot(slot, value);
            if let Some(n) = trie.nodes.get_mut(cur as usize) {
                n.intermediate = false;
                n.slot = slot;
                n.data = data.into();
            }
            return Ok(());
        }
        self.add_entry(trie, flags)?;
        let slot = self.alloc_slot(trie)?;
        self.write_slot(slot, value);
        if matched == prefixlen {
            // The new prefix is a prefix of the node: it becomes the parent.
            let bit = extract_bit(&Self::node(trie, cur)?.data, matched);
            let mut fresh = new_node(slot);
            fresh.child[bit] = cur;
            let n = Self::alloc_node(trie, fresh);
            Self::set_link(trie, parent, n);
            return Ok(());
        }
        let leaf = Self::alloc_node(trie, new_node(slot));
        let im_data = Self::node(trie, cur)?.data.clone();
        let children = if extract_bit(data, matched) == 1 {
            [cur, leaf]
        } else {
            [leaf, cur]
        };
        let im = Self::alloc_node(
            trie,
            Node {
                child: children,
                prefixlen: matched,
                intermediate: true,
                data: im_data,
                slot: NIL,
            },
        );
        Self::set_link(trie, parent, im);
        Ok(())
    }

    /// `trie_delete_elem`.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<()> {
        let (prefixlen, data) = self.split_key(key)?;
        if prefixlen > self.max_prefixlen {
            return Err(MapError::Invalid("prefix length beyond the key's data"));
        }
        let mut guard = self.trie.write();
        let trie = &mut *guard;
        let mut link: Option<(u32, usize)> = None;
        let mut parent_link: Option<(u32, usize)> = None;
        let mut parent = NIL;
        let mut cur = trie.root;
        let mut matched = 0;
        while cur != NIL {
            let node = Self::node(trie, cur)?;
            matched = self.match_len(node, prefixlen, data);
            if node.prefixlen != matched || node.prefixlen == prefixlen {
                break;
            }
            parent = cur;
            parent_link = link;
            let bit = extract_bit(data, node.prefixlen);
            link = Some((cur, bit));
            cur = node.child[bit];
        }
        let node = trie.nodes.get(cur as usize).ok_or(MapError::NotFound)?;
        if node.prefixlen != prefixlen || node.prefixlen != matched || node.intermediate {
            return Err(MapError::NotFound);
        }
        trie.n_entries -= 1;
        let [c0, c1] = node.child;
        if c0 != NIL && c1 != NIL {
            // Two children: the node stays as an intermediate one.
            let slot = node.slot;
            trie.free_slots.push(slot);
            if let Some(n) = trie.nodes.get_mut(cur as usize) {
                n.intermediate = true;
            }
            return Ok(());
        }
        if let Some(p) = trie.nodes.get(parent as usize)
            && p.intermediate
            && c0 == NIL
            && c1 == NIL
        {
            // Leaf under an intermediate node: the sibling replaces the parent.
            let sibling = if p.child[0] == cur {
                p.child[1]
            } else {
                p.child[0]
            };
            Self::set_link(trie, parent_link, sibling);
            Self::free_node(trie, parent);
            Self::free_node(trie, cur);
            return Ok(());
        }
        let replacement = if c0 != NIL { c0 } else { c1 };
        Self::set_link(trie, link, replacement);
        Self::free_node(trie, cur);
        Ok(())
    }

    fn encode_key(&self, node: &Node) -> Vec<u8> {
        let mut out = node.prefixlen.to_ne_bytes().to_vec();
        out.extend_from_slice(&node.data);
        out
    }

    /// The kernel's `find_leftmost` walk from `root`: intermediate nodes go
    /// left, real nodes are remembered and the walk goes on to their first
    /// child, so the deepest leftmost real node wins.
    fn leftmost(trie: &Trie, root: u32) -> Option<u32> {
        let mut next = None;
        let mut cur = root;
        while let Some(node) = trie.nodes.get(cur as usize) {
            if node.intermediate {
                cur = node.child[0];
            } else {
                next = Some(cur);
                cur = if node.child[0] != NIL {
                    node.child[0]
                } else {
                    node.child[1]
                };
            }
        }
        next
    }

    /// `trie_get_next_key`: post-order (more specific prefixes first); a
    /// missing key starts from the leftmost node.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>> {
        let trie = self.trie.read();
        if trie.root == NIL {
            return Err(MapError::NotFound);
        }
        let parsed = match key {
            Some(k) => Some(self.split_key(k)?),
            None => None,
        };
        let mut search_root = trie.root;
        if let Some((prefixlen, data)) = parsed.filter(|(p, _)| *p <= self.max_prefixlen) {
            let mut stack = Vec::new();
            let mut cur = trie.root;
            let mut matched = 0;
            let mut exact = None;
            while let Some(node) = trie.nodes.get(cur as usize) {
                stack.push(cur);
                matched = self.match_len(node, prefixlen, data);
                if node.prefixlen != matched || node.prefixlen == prefixlen {
                    exact = Some(cur);
                    break;
                }
                cur = node.child[extract_bit(data, node.prefixlen)];
            }
            let hit = exact
                .and_then(|i| trie.nodes.get(i as usize))
                .filter(|n| n.prefixlen == matched && n.prefixlen == prefixlen && !n.intermediate);
            if hit.is_some() {
                let mut node = stack.pop().unwrap_or(NIL);
                while let Some(parent_index) = stack.last().copied() {
                    let parent = Self::node(&trie, parent_index)?;
                    if parent.child[0] == node && parent.child[1] != NIL {
                        search_root = parent.child[1];
                        return Self::leftmost(&trie, search_root)
                            .and_then(|n| trie.nodes.get(n as usize))
                            .map(|n| self.encode_key(n))
                            .ok_or(MapError::NotFound);
                    }
                    if !parent.intermediate {
                        return Ok(self.encode_key(parent));
                    }
                    node = parent_index;
                    stack.pop();
                }
                return Err(MapError::NotFound);
            }
        }
        Self::leftmost(&trie, search_root)
            .and_then(|n| trie.nodes.get(n as usize))
            .map(|n| self.encode_key(n))
            .ok_or(MapError::NotFound)
    }

    /// Number of entries (real nodes).
    pub(crate) fn len(&self) -> u32 {
        self.trie.read().n_entries
    }
}
