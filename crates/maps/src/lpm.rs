//! `lpm_trie` (`kernel/bpf/lpm_trie.c`): the kernel's binary trie with
//! intermediate nodes, so longest-prefix lookups and the post-order
//! `get_next_key` walk give the same answers as the kernel. Keys are
//! `struct bpf_lpm_trie_key_u8`: a native-endian `u32` prefix length then
//! the data bytes, most significant bit first.
//!
//! Values live in a slab and are updated in place. Nodes live in a second
//! slab (it never moves) as atomic words, behind a sequence lock: writers
//! (serialised by a mutex) make the count odd while they relink, and
//! lookups walk without writing anything shared, then retry if the count
//! moved. Programs on several cores look up the same trie per packet, and
//! a reader-writer lock's count is one cache line all of them would write.

use crate::def::{BPF_EXIST, BPF_NOEXIST, round8};
use crate::error::{MapError, Result, check_len};
use crate::mem::{Slab, ValueRef, copy_to_shared};
use parking_lot::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

const NIL: u32 = u32::MAX;

/// A node's words, then its data bytes from `DATA_OFF`.
const CHILD0: usize = 0;
const CHILD1: usize = 1;
const PREFIXLEN: usize = 2;
const INTERMEDIATE: usize = 3;
/// Value slot in the value slab (meaningless for intermediate nodes).
const SLOT: usize = 4;
const DATA_OFF: usize = 24;

/// A node's words, read at once.
#[derive(Clone, Copy)]
struct Node {
    child: [u32; 2],
    prefixlen: u32,
    intermediate: bool,
    slot: u32,
}

/// What only writers touch (under the mutex).
struct Alloc {
    next_node: u32,
    free_nodes: Vec<u32>,
    free_slots: Vec<u32>,
    next_slot: u32,
    n_entries: u32,
}

/// A longest-prefix-match trie.
pub(crate) struct LpmTrie {
    data_size: usize,
    value_size: usize,
    max_prefixlen: u32,
    max_entries: u32,
    values: Slab,
    nodes: Slab,
    node_cap: u32,
    root: AtomicU32,
    /// Odd while a writer changes nodes.
    seq: AtomicU64,
    alloc: Mutex<Alloc>,
}

/// A writer's hold on the trie: ends the write section (the count turns
/// even) however the update returns, before the mutex is released.
struct WriteSection<'t> {
    alloc: parking_lot::MutexGuard<'t, Alloc>,
    seq: &'t AtomicU64,
}

impl Drop for WriteSection<'_> {
    fn drop(&mut self) {
        self.seq.fetch_add(1, Ordering::Release);
    }
}

fn extract_bit(data: &[u8], index: u32) -> usize {
    data.get(index as usize / 8)
        .map_or(0, |b| usize::from(b >> (7 - index % 8) & 1))
}

impl LpmTrie {
    pub(crate) fn new(key_size: u32, value_size: u32, max_entries: u32) -> Result<LpmTrie> {
        let data_size = key_size.saturating_sub(4) as usize;
        // Every entry adds at most one real and one intermediate node; the
        // two spare nodes let an update reserve before it counts the entry.
        let node_cap = max_entries.saturating_mul(2).saturating_add(2);
        Ok(LpmTrie {
            data_size,
            value_size: value_size as usize,
            max_prefixlen: data_size as u32 * 8,
            max_entries,
            values: Slab::new(round8(value_size) as usize, max_entries, false)?,
            nodes: Slab::new(
                DATA_OFF + round8(data_size as u32) as usize,
                node_cap,
                false,
            )?,
            node_cap,
            root: AtomicU32::new(NIL),
            seq: AtomicU64::new(0),
            alloc: Mutex::new(Alloc {
                next_node: 0,
                free_nodes: Vec::new(),
                free_slots: Vec::new(),
                next_slot: 0,
                n_entries: 0,
            }),
        })
    }

    /// Bytes of a key: the prefix length, then the data.
    pub(crate) fn key_size(&self) -> usize {
        self.data_size + 4
    }

    fn split_key<'k>(&self, key: &'k [u8]) -> Result<(u32, &'k [u8])> {
        check_len("key", key, self.key_size())?;
        let (len, data) = key.split_at(4);
        let mut b = [0u8; 4];
        b.copy_from_slice(len);
        Ok((u32::from_ne_bytes(b), data))
    }

    /// Word `field` of node `i`, which the writer allocated (so backed).
    fn word(&self, i: u32, field: usize) -> &AtomicU32 {
        // SAFETY: `i` is below `next_node` (every index stored in a link
        // was), so its slab element is backed and never unmapped; the
        // element is 8-aligned and the words are in its header.
        unsafe { AtomicU32::from_ptr(self.nodes.addr(i).cast::<u32>().add(field)) }
    }

    fn data_byte(&self, i: u32, at: usize) -> &AtomicU8 {
        // SAFETY: as `word`; `at` is below `data_size`.
        unsafe { AtomicU8::from_ptr(self.nodes.addr(i).add(DATA_OFF + at)) }
    }

    /// Node `i`, or `None` for `NIL` (or an index a racing read tore).
    fn node(&self, i: u32) -> Option<Node> {
        if i >= self.node_cap {
            return None;
        }
        let w = |f| self.word(i, f).load(Ordering::Relaxed);
        Some(Node {
            child: [w(CHILD0), w(CHILD1)],
            prefixlen: w(PREFIXLEN),
            intermediate: w(INTERMEDIATE) != 0,
            slot: w(SLOT),
        })
    }

    fn write_node(&self, i: u32, node: Node) {
        let w = |f, v| self.word(i, f).store(v, Ordering::Relaxed);
        w(CHILD0, node.child[0]);
        w(CHILD1, node.child[1]);
        w(PREFIXLEN, node.prefixlen);
        w(INTERMEDIATE, u32::from(node.intermediate));
        w(SLOT, node.slot);
    }

    fn write_data(&self, i: u32, data: &[u8]) {
        for (at, b) in data.iter().enumerate() {
            self.data_byte(i, at).store(*b, Ordering::Relaxed);
        }
    }

    fn read_data(&self, i: u32) -> Vec<u8> {
        (0..self.data_size)
            .map(|at| self.data_byte(i, at).load(Ordering::Relaxed))
            .collect()
    }

    /// `longest_prefix_match`: bits shared by the node and the key, capped
    /// by both prefix lengths.
    fn match_len(&self, i: u32, node: &Node, prefixlen: u32, data: &[u8]) -> u32 {
        let limit = node.prefixlen.min(prefixlen).min(self.max_prefixlen);
        let mut matched = 0;
        for (at, b) in data.iter().enumerate() {
            if matched >= limit {
                break;
            }
            let diff = self.data_byte(i, at).load(Ordering::Relaxed) ^ b;
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

    /// One walk to the longest stored prefix; a walk racing a writer may
    /// return anything, which `lookup` then throws away.
    fn walk(&self, prefixlen: u32, data: &[u8]) -> Option<u32> {
        let mut found = None;
        let mut cur = self.root.load(Ordering::Relaxed);
        // A consistent trie is at most one node per prefix bit deep; the
        // bound ends walks through links a writer is changing.
        for _ in 0..=self.max_prefixlen + 1 {
            let Some(node) = self.node(cur) else { break };
            let matched = self.match_len(cur, &node, prefixlen, data);
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
        found
    }

    /// `trie_lookup_elem`: the value of the longest stored prefix of the key.
    pub(crate) fn lookup(&self, key: &[u8]) -> Result<Option<ValueRef>> {
        let (prefixlen, data) = self.split_key(key)?;
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let found = self.walk(prefixlen, data);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return Ok(found.and_then(|s| self.value_ref(s)));
                }
            }
            std::hint::spin_loop();
        }
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

    fn alloc_slot(&self, alloc: &mut Alloc) -> Result<u32> {
        if let Some(s) = alloc.free_slots.pop() {
            return Ok(s);
        }
        let s = alloc.next_slot;
        self.values.ensure(s)?;
        alloc.next_slot += 1;
        Ok(s)
    }

    /// A node holding `node` and `data`, written before any link names it.
    fn alloc_node(&self, alloc: &mut Alloc, node: Node, data: &[u8]) -> Result<u32> {
        let i = match alloc.free_nodes.pop() {
            Some(i) => i,
            None => {
                let i = alloc.next_node;
                self.nodes.ensure(i)?;
                alloc.next_node += 1;
                i
            }
        };
        self.write_node(i, node);
        self.write_data(i, data);
        Ok(i)
    }

    /// Backs the (at most two) nodes an update adds, so it fails before it
    /// changes anything rather than half way.
    fn reserve_nodes(&self, alloc: &Alloc) -> Result<()> {
        for k in 0..2u32.saturating_sub(alloc.free_nodes.len() as u32) {
            self.nodes.ensure(alloc.next_node.saturating_add(k))?;
        }
        Ok(())
    }

    fn free_node(&self, alloc: &mut Alloc, i: u32) {
        if let Some(n) = self.node(i) {
            if !n.intermediate {
                alloc.free_slots.push(n.slot);
            }
            self.word(i, CHILD0).store(NIL, Ordering::Relaxed);
            self.word(i, CHILD1).store(NIL, Ordering::Relaxed);
            self.word(i, INTERMEDIATE).store(1, Ordering::Relaxed);
            alloc.free_nodes.push(i);
        }
    }

    /// `trie_check_add_elem`: counts a new entry or refuses it.
    fn add_entry(&self, alloc: &mut Alloc, flags: u64) -> Result<()> {
        if flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        if alloc.n_entries == self.max_entries {
            return Err(MapError::NoSpace);
        }
        alloc.n_entries += 1;
        Ok(())
    }

    fn node_at(&self, i: u32) -> Result<Node> {
        self.node(i).ok_or(MapError::Invalid("corrupt trie link"))
    }

    /// Replaces the link that pointed at the node found at `path` end.
    fn set_link(&self, parent: Option<(u32, usize)>, to: u32) {
        match parent {
            None => self.root.store(to, Ordering::Relaxed),
            Some((p, bit)) => self.word(p, CHILD0 + bit).store(to, Ordering::Relaxed),
        }
    }

    /// Takes the writers' mutex and opens a write section readers retry on.
    fn begin_write(&self) -> WriteSection<'_> {
        let alloc = self.alloc.lock();
        self.seq.fetch_add(1, Ordering::Relaxed);
        // Readers that see a node word written below see the odd count.
        fence(Ordering::Release);
        WriteSection {
            alloc,
            seq: &self.seq,
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
        let mut section = self.begin_write();
        let alloc = &mut *section.alloc;
        self.reserve_nodes(alloc)?;
        let mut parent: Option<(u32, usize)> = None;
        let mut cur = self.root.load(Ordering::Relaxed);
        let mut matched = 0;
        while cur != NIL {
            let node = self.node_at(cur)?;
            matched = self.match_len(cur, &node, prefixlen, data);
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
            slot,
        };
        if cur == NIL {
            self.add_entry(alloc, flags)?;
            let slot = self.alloc_slot(alloc)?;
            self.write_slot(slot, value);
            let n = self.alloc_node(alloc, new_node(slot), data)?;
            self.set_link(parent, n);
            return Ok(());
        }
        let node = self.node_at(cur)?;
        if node.prefixlen == matched {
            // Exact match: overwrite an entry, or turn an intermediate node real.
            if !node.intermediate {
                if flags == BPF_NOEXIST {
                    return Err(MapError::AlreadyExists);
                }
                self.write_slot(node.slot, value);
                self.write_data(cur, data);
                return Ok(());
            }
            self.add_entry(alloc, flags)?;
            let slot = self.alloc_slot(alloc)?;
            self.write_slot(slot, value);
            self.word(cur, SLOT).store(slot, Ordering::Relaxed);
            self.write_data(cur, data);
            self.word(cur, INTERMEDIATE).store(0, Ordering::Relaxed);
            return Ok(());
        }
        self.add_entry(alloc, flags)?;
        let slot = self.alloc_slot(alloc)?;
        self.write_slot(slot, value);
        let node_data = self.read_data(cur);
        if matched == prefixlen {
            // The new prefix is a prefix of the node: it becomes the parent.
            let mut fresh = new_node(slot);
            fresh.child[extract_bit(&node_data, matched)] = cur;
            let n = self.alloc_node(alloc, fresh, data)?;
            self.set_link(parent, n);
            return Ok(());
        }
        let leaf = self.alloc_node(alloc, new_node(slot), data)?;
        let children = if extract_bit(data, matched) == 1 {
            [cur, leaf]
        } else {
            [leaf, cur]
        };
        let im = Node {
            child: children,
            prefixlen: matched,
            intermediate: true,
            slot: NIL,
        };
        let im = self.alloc_node(alloc, im, &node_data)?;
        self.set_link(parent, im);
        Ok(())
    }

    /// `trie_delete_elem`.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<()> {
        let (prefixlen, data) = self.split_key(key)?;
        if prefixlen > self.max_prefixlen {
            return Err(MapError::Invalid("prefix length beyond the key's data"));
        }
        let mut section = self.begin_write();
        let alloc = &mut *section.alloc;
        let mut link: Option<(u32, usize)> = None;
        let mut parent_link: Option<(u32, usize)> = None;
        let mut parent = NIL;
        let mut cur = self.root.load(Ordering::Relaxed);
        let mut matched = 0;
        while cur != NIL {
            let node = self.node_at(cur)?;
            matched = self.match_len(cur, &node, prefixlen, data);
            if node.prefixlen != matched || node.prefixlen == prefixlen {
                break;
            }
            parent = cur;
            parent_link = link;
            let bit = extract_bit(data, node.prefixlen);
            link = Some((cur, bit));
            cur = node.child[bit];
        }
        let node = self.node(cur).ok_or(MapError::NotFound)?;
        if node.prefixlen != prefixlen || node.prefixlen != matched || node.intermediate {
            return Err(MapError::NotFound);
        }
        alloc.n_entries -= 1;
        let [c0, c1] = node.child;
        if c0 != NIL && c1 != NIL {
            // Two children: the node stays as an intermediate one.
            alloc.free_slots.push(node.slot);
            self.word(cur, INTERMEDIATE).store(1, Ordering::Relaxed);
            return Ok(());
        }
        if let Some(p) = self.node(parent)
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
            self.set_link(parent_link, sibling);
            self.free_node(alloc, parent);
            self.free_node(alloc, cur);
            return Ok(());
        }
        let replacement = if c0 != NIL { c0 } else { c1 };
        self.set_link(link, replacement);
        self.free_node(alloc, cur);
        Ok(())
    }

    fn encode_key(&self, i: u32, node: &Node) -> Vec<u8> {
        let mut out = node.prefixlen.to_ne_bytes().to_vec();
        out.extend_from_slice(&self.read_data(i));
        out
    }

    /// The kernel's `find_leftmost` walk from `root`: intermediate nodes go
    /// left, real nodes are remembered and the walk goes on to their first
    /// child, so the deepest leftmost real node wins.
    fn leftmost(&self, root: u32) -> Option<u32> {
        let mut next = None;
        let mut cur = root;
        while let Some(node) = self.node(cur) {
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

    fn leftmost_key(&self, root: u32) -> Result<Vec<u8>> {
        self.leftmost(root)
            .and_then(|i| self.node(i).map(|n| self.encode_key(i, &n)))
            .ok_or(MapError::NotFound)
    }

    /// `trie_get_next_key`: post-order (more specific prefixes first); a
    /// missing key starts from the leftmost node. Host-side, so it holds
    /// the writers' mutex rather than retrying.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>> {
        let _writers = self.alloc.lock();
        let root = self.root.load(Ordering::Relaxed);
        if root == NIL {
            return Err(MapError::NotFound);
        }
        let parsed = match key {
            Some(k) => Some(self.split_key(k)?),
            None => None,
        };
        if let Some((prefixlen, data)) = parsed.filter(|(p, _)| *p <= self.max_prefixlen) {
            let mut stack = Vec::new();
            let mut cur = root;
            let mut matched = 0;
            let mut exact = None;
            while let Some(node) = self.node(cur) {
                stack.push(cur);
                matched = self.match_len(cur, &node, prefixlen, data);
                if node.prefixlen != matched || node.prefixlen == prefixlen {
                    exact = Some(node);
                    break;
                }
                cur = node.child[extract_bit(data, node.prefixlen)];
            }
            let hit = exact
                .filter(|n| n.prefixlen == matched && n.prefixlen == prefixlen && !n.intermediate);
            if hit.is_some() {
                let mut node = stack.pop().unwrap_or(NIL);
                while let Some(parent_index) = stack.last().copied() {
                    let parent = self.node_at(parent_index)?;
                    if parent.child[0] == node && parent.child[1] != NIL {
                        return self.leftmost_key(parent.child[1]);
                    }
                    if !parent.intermediate {
                        return Ok(self.encode_key(parent_index, &parent));
                    }
                    node = parent_index;
                    stack.pop();
                }
                return Err(MapError::NotFound);
            }
        }
        self.leftmost_key(root)
    }

    /// Number of entries (real nodes).
    pub(crate) fn len(&self) -> u32 {
        self.alloc.lock().n_entries
    }
}
